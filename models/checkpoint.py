"""Resumable training checkpoints: atomic write, and a read that fails with ModelsError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.errors import ModelsError


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with torch.save to a temporary file and rename it over ``path``, so a
    crash mid-write leaves the previous checkpoint intact."""
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain data only)."""
    if not path.is_file():
        raise ModelsError(f"--resume: no checkpoint at {path}")
    try:
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise ModelsError(f"--resume: cannot read {path}: {exc}") from exc
    return payload
