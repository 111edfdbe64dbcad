"""Factories for the integer-student tests: a small trained default-size TinyLSTM (cached per
process, a few seconds of CPU training) and its held-out evaluation set."""

from __future__ import annotations

import functools

import torch

from benchmarks.golden.intlstm import LABELS, keyword_messages, train_golden_student
from models.batching import pad_ids
from models.student import TinyLSTM
from models.tokenizer import Tokenizer

__all__ = ["LABELS", "encode", "float_logits", "trained_student"]


def encode(samples: list[tuple[str, str]]) -> tuple[list[list[int]], torch.Tensor]:
    """``(text, label)`` pairs -> ``(id lists, label indices [N])``."""
    tok = Tokenizer(max_len=64)
    ids = [tok.encode(text) for text, _ in samples]
    y = torch.tensor([LABELS.index(label) for _, label in samples], dtype=torch.long)  # [N]
    return ids, y


@functools.lru_cache(maxsize=3)
def trained_student(
    hash_embedding: bool = False, pooling: str = "last"
) -> tuple[TinyLSTM, list[tuple[str, str]]]:
    """A trained student (eval mode; spec v1's embedding, or K=2 rows with 4096 importance
    buckets; a pooling of the integer engine) and 600 held-out messages, shared by the test
    modules."""
    torch.set_num_threads(1)
    extra: dict[str, object] = {"hashes": 2, "buckets": 4096} if hash_embedding else {}
    model = train_golden_student(seed=3, steps=150, pooling=pooling, **extra)
    return model, keyword_messages(600, seed=99, confusion=0.1)


def float_logits(model: TinyLSTM, sequences: list[list[int]]) -> torch.Tensor:
    x, lengths = pad_ids(sequences)
    with torch.no_grad():
        return model(x, lengths)  # [N, C]
