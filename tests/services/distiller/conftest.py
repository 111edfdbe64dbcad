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
    """``make(name="r") -> (ReleaseStore, signing key)`` with signed release 1 stored."""

    def make(name: str = "r") -> tuple:
        return seeded_store(tmp_path / name)

    return make
