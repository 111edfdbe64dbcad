"""The optional ``STST`` tensor of a model blob (``docs/model-blob.md``): a few messages' ids
with the logits the integer reference gives them, which a device reproduces before it confirms
a new model (its self-test boot)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.errors import ModelsError
from models.intlstm import IntegerStudent, integer_logits
from models.tokenizer import RESERVED


class SelfTestRecordError(ModelsError):
    """An ``STST`` record runs past its tensor or holds ids or a label out of range."""


@dataclass(frozen=True)
class SelfTestCase:
    """One record of the optional ``STST`` tensor: ids, expected label and int32 logits."""

    ids: tuple[int, ...]
    label: int
    logits: tuple[int, ...]


def default_selftest_ids(model: IntegerStudent, count: int = 4) -> list[list[int]]:
    """Deterministic id lists (lengths 0, 1, a few, ``max_len``) for the ``STST`` tensor."""
    rng = np.random.default_rng(20241125)
    lengths = [0, 1, min(7, model.max_len), model.max_len][:count]
    return [rng.integers(2, model.vocab_size, size=n).tolist() for n in lengths]


def selftest_cases(model: IntegerStudent, sequences: Sequence[Sequence[int]]) -> list[SelfTestCase]:
    """Run the integer reference on the spec v1 id lists ``sequences`` and record what a
    device must reproduce (id ``i`` is the row of hash ``i - R``)."""
    logits = integer_logits(model, [[i - RESERVED for i in seq] for seq in sequences])
    return [
        SelfTestCase(tuple(int(i) for i in seq), int(np.argmax(row)), tuple(int(v) for v in row))
        for seq, row in zip(sequences, logits, strict=True)
    ]


def selftest_tensor(cases: Sequence[SelfTestCase]) -> np.ndarray:
    words: list[int] = []
    for case in cases:
        words += [len(case.ids), *case.ids, case.label, *case.logits]
    return np.asarray(words, dtype=np.int32)


def read_selftest(words: np.ndarray, vocab: int, num_labels: int) -> tuple[SelfTestCase, ...]:
    cases: list[SelfTestCase] = []
    pos = 0
    while pos < len(words):
        t = int(words[pos])
        if t < 0 or pos + 1 + t + 1 + num_labels > len(words):
            raise SelfTestRecordError(f"STST record at word {pos} runs past the tensor")
        ids = tuple(int(v) for v in words[pos + 1 : pos + 1 + t])
        label = int(words[pos + 1 + t])
        logits = tuple(int(v) for v in words[pos + 2 + t : pos + 2 + t + num_labels])
        if any(not 0 <= i < vocab for i in ids) or not 0 <= label < num_labels:
            raise SelfTestRecordError(f"STST record at word {pos} has ids or label out of range")
        cases.append(SelfTestCase(ids, label, logits))
        pos += 2 + t + num_labels
    return tuple(cases)
