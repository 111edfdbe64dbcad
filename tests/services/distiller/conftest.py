"""Fixture factories of the distiller tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.services.distiller.factories import seeded_store


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def release_factory(tmp_path: Path) -> Callable[..., tuple]:
    """``make(name="r", spec_v1=False) -> (ReleaseStore, signing key)`` with signed release 1
    stored (the default student, or a spec v1 one)."""

    def make(name: str = "r", spec_v1: bool = False) -> tuple:
        return seeded_store(tmp_path / name, spec_v1)

    return make
