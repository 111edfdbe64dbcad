"""Teacher fixtures: the e5-small conversion runs once per test session, into a temporary
cache, so every session exercises the real conversion path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from models.teacher import Teacher, ensure_e5_small

MIXED_TEXTS = [
    "物流订单号DH20231125状态更新",
    "上海仓库存预警通知",
    "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３ parcel scanned",
    "ＤＨＬ快递单号：１２３４５６，请注意查收！",
    "the parcel was delayed at the Shenzhen hub",
    "订单已签收，感谢使用顺丰速运",
    "Truck 7 ETA 14:30, 延误30分钟",
    "warehouse  inventory\talert\n重复空格",
    "退货申请已通过，退款将在3个工作日内到账",
    "hello world",
]


@pytest.fixture(scope="session", autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def teacher_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory holding the converted e5-small folder (converted once)."""
    cache = tmp_path_factory.mktemp("teacher-cache")
    ensure_e5_small(cache)
    return cache


@pytest.fixture(scope="session")
def teacher_factory(teacher_cache: Path) -> Callable[..., Teacher]:
    """Build teachers; ``e5-small`` comes from the session's converted cache."""

    def make(source: str | Path = "e5-small", **kwargs) -> Teacher:
        return Teacher(source, cache_dir=teacher_cache, **kwargs)

    return make
