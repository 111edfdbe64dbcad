"""The optional ``STST`` tensor of a model blob (``docs/model-blob.md``): a few messages' tokens
with the logits the integer reference gives them, which a device reproduces before it confirms
a new model (its self-test boot). Tokenizer version 1 records hold table rows (id ``i`` is the
row of hash ``i - R``), version 2 records the tokens' 32-bit key hashes (as int32 bits)."""

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
    """One record of the optional ``STST`` tensor: its tokens as stored (tokenizer version 1:
    table rows; 2: key hashes), expected label, int32 logits, and the hashes the integer
    reference reads."""

    ids: tuple[int, ...]
    label: int
    logits: tuple[int, ...]
    hashes: tuple[int, ...]


def default_selftest_ids(model: IntegerStudent, count: int = 4) -> list[list[int]]:
    """Deterministic token lists (lengths 0, 1, a few, ``max_len``) for the ``STST`` tensor:
    table rows for a spec v1 model, key hashes otherwise."""
    rng = np.random.default_rng(20241125)
    lengths = [0, 1, min(7, model.max_len), model.max_len][:count]
    if model.spec_v1:
        return [rng.integers(2, model.vocab_size, size=n).tolist() for n in lengths]
    return [rng.integers(0, 2**32, size=n).tolist() for n in lengths]


def selftest_cases(model: IntegerStudent, sequences: Sequence[Sequence[int]]) -> list[SelfTestCase]:
    """Run the integer reference on ``sequences`` (a spec v1 model: table rows, id ``i`` being
    the row of hash ``i - R``; otherwise key hashes) and record what a device must reproduce."""
    hashes = [_hashes(seq, model.spec_v1) for seq in sequences]
    logits = integer_logits(model, [list(h) for h in hashes])
    return [
        SelfTestCase(tuple(int(i) for i in seq), int(np.argmax(row)), tuple(int(v) for v in row), h)
        for seq, h, row in zip(sequences, hashes, logits, strict=True)
    ]


def _hashes(tokens: Sequence[int], rows: bool) -> tuple[int, ...]:
    return tuple(int(i) - RESERVED for i in tokens) if rows else tuple(int(h) for h in tokens)


def selftest_tensor(cases: Sequence[SelfTestCase]) -> np.ndarray:
    words: list[int] = []
    for case in cases:
        words += [len(case.ids), *case.ids, case.label, *case.logits]
    return np.asarray(words, dtype=np.int64).astype(np.uint32).view(np.int32)


def read_selftest(
    words: np.ndarray, vocab: int, num_labels: int, rows: bool = True
) -> tuple[SelfTestCase, ...]:
    """Records of an ``STST`` tensor; ``rows``: tokens are table rows (tokenizer version 1,
    each checked against ``vocab``), else key hashes (any 32-bit value)."""
    cases: list[SelfTestCase] = []
    pos = 0
    while pos < len(words):
        t = int(words[pos])
        if t < 0 or pos + 1 + t + 1 + num_labels > len(words):
            raise SelfTestRecordError(f"STST record at word {pos} runs past the tensor")
        tokens = words[pos + 1 : pos + 1 + t]
        ids = tuple(int(v) for v in (tokens if rows else tokens.view(np.uint32)))
        label = int(words[pos + 1 + t])
        logits = tuple(int(v) for v in words[pos + 2 + t : pos + 2 + t + num_labels])
        if (rows and any(not 0 <= i < vocab for i in ids)) or not 0 <= label < num_labels:
            raise SelfTestRecordError(f"STST record at word {pos} has ids or label out of range")
        cases.append(SelfTestCase(ids, label, logits, _hashes(ids, rows)))
        pos += 2 + t + num_labels
    return tuple(cases)
