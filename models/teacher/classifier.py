"""The classification head and the on-disk layout of a fine-tuned teacher.

A fine-tuned teacher folder (written by ``fleet teacher finetune``, read by ``Teacher``)::

    teacher.json        {"format": 1, "text_prefix": "query: ", "base": "e5-small"}
    labels.json         {"labels": ["label a", "label b", ...]}  (index = logit column)
    head.safetensors    weight (C, H), bias (C,)
    encoder/            a Hugging Face folder: model.safetensors, config.json, tokenizer
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.data.record import LabelSet
from models.errors import DataError

FORMAT = 1  # teacher.json "format"; bump on layout changes


class ClassifierHead(nn.Module):
    """Dropout then one linear layer from the pooled embedding to label logits."""

    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        assert hidden > 0 and num_labels > 1, f"need hidden>0, labels>1: {hidden}, {num_labels}"
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.linear(self.dropout(pooled))  # (B, H) -> (B, C)
        return logits


@dataclass(frozen=True)
class FinetunedLayout:
    """Paths inside one fine-tuned teacher folder."""

    root: Path  # the folder itself

    @property
    def encoder(self) -> Path:
        return self.root / "encoder"

    @property
    def head(self) -> Path:
        return self.root / "head.safetensors"

    @property
    def labels(self) -> Path:
        return self.root / "labels.json"

    @property
    def meta(self) -> Path:
        return self.root / "teacher.json"

    def exists(self) -> bool:
        return self.meta.is_file()


def save_head(head: ClassifierHead, layout: FinetunedLayout, labels: list[str]) -> None:
    """Write the head weights and the label list (the encoder is saved by the caller)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in head.linear.state_dict().items()}
    save_file(state, str(layout.head), metadata={"format": "pt"})
    LabelSet(tuple(labels)).save(layout.labels)


def write_meta(layout: FinetunedLayout, text_prefix: str, base: str) -> None:
    """Write ``teacher.json``; written last, it marks the folder complete."""
    meta = {"format": FORMAT, "text_prefix": text_prefix, "base": base}
    layout.meta.write_text(json.dumps(meta, indent=1))


def read_meta(layout: FinetunedLayout) -> dict[str, object]:
    try:
        meta: dict[str, object] = json.loads(layout.meta.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"unreadable fine-tuned teacher metadata {layout.meta}") from exc
    if meta.get("format") != FORMAT:
        raise DataError(f"{layout.meta}: format {meta.get('format')}, this code reads {FORMAT}")
    return meta


def load_head(layout: FinetunedLayout) -> tuple[ClassifierHead, list[str]]:
    """Read the head weights and labels written by :func:`save_head`."""
    from safetensors.torch import load_file

    labels = list(LabelSet.load(layout.labels).names)
    try:
        state = load_file(str(layout.head))
    except OSError as exc:
        raise DataError(f"incomplete fine-tuned teacher at {layout.root}") from exc
    num_labels, hidden = state["weight"].shape
    if num_labels != len(labels):
        raise DataError(f"{layout.root}: head has {num_labels} outputs, {len(labels)} labels")
    head = ClassifierHead(hidden, num_labels)
    head.linear.load_state_dict(state)
    return head, labels
