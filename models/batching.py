"""Texts -> padded id tensors for the student (padding id 0, lengths beside)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch


class Encoder(Protocol):
    """What batching needs of a tokenizer (``models.tokenizer.Tokenizer`` is one)."""

    def encode(self, text: str | bytes) -> list[int]: ...


def pad_ids(sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists with 0 to the longest one: ``(ids [B, Tmax], lengths [B])``.

    ``Tmax`` is 0 when every sequence is empty; the student handles empty rows.
    """
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)  # [B]
    width = int(lengths.max()) if len(sequences) else 0
    ids = torch.zeros((len(sequences), width), dtype=torch.long)  # [B, Tmax]
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return ids, lengths


def encode_batch(
    tokenizer: Encoder, texts: Sequence[str | bytes]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenize ``texts`` and pad them: ``(ids LongTensor [B, Tmax], lengths LongTensor [B])``."""
    return pad_ids([tokenizer.encode(t) for t in texts])


POOL_BATCHES = 50  # batches per length-sorted pool in :func:`epoch_batches`


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int
) -> list[list[int]]:
    """Row indices of every batch of one epoch, grouped by length so little padding is
    computed: a seeded shuffle cut into pools of ``POOL_BATCHES`` batches, each pool sorted by
    length and cut into batches, the batches shuffled again. Deterministic in (seed, epoch);
    every row appears exactly once."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(lengths), generator=gen).tolist()
    pool = batch_size * POOL_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda r: lengths[r])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in shuffle]
