"""Batching: padding and length-grouped epoch batches."""

from __future__ import annotations

from models.batching import epoch_batches


def test_batches_group_texts_of_similar_length_and_cover_every_row_once() -> None:
    lengths = [(i * 37) % 101 for i in range(1000)]
    batches = epoch_batches(lengths, 10, seed=1, epoch=0)
    rows = sorted(r for b in batches for r in b)
    assert rows == list(range(1000))
    assert epoch_batches(lengths, 10, seed=1, epoch=0) == batches
    assert epoch_batches(lengths, 10, seed=1, epoch=1) != batches
    spread = sum(max(lengths[r] for r in b) - min(lengths[r] for r in b) for b in batches)
    assert spread / len(batches) < 10  # a random batch of 10 spans ~80 of the 0..100 range
