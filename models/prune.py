"""Iterative magnitude pruning of the student with fine-tuning between rounds.

Each round raises the sparsity of every prunable matrix (embedding, both LSTM directions'
``weight_ih``/``weight_hh``, head) towards the target along the cubic schedule of Zhu & Gupta
(2017), zeroes the smallest-magnitude weights of each matrix, then fine-tunes with the masks
re-applied after every optimizer step. Every weight row keeps its largest weight: the integer
converter needs a non-zero row to represent that row's bias (``docs/integer-lstm.md``).

The device format is dense, so pruning only pays where the blob is compressed (OTA transfer,
flash images); ``benchmarks/integer_student.py`` measures exactly that.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.batching import pad_ids
from models.errors import ConfigError
from models.student import TinyLSTM

PRUNABLE: tuple[str, ...] = (
    "embedding.weight",
    "lstm.weight_ih_l0",
    "lstm.weight_hh_l0",
    "lstm.weight_ih_l0_reverse",
    "lstm.weight_hh_l0_reverse",
    "head.weight",
)


def magnitude_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """Per-matrix masks zeroing the ``sparsity`` share of smallest |w| (row maxima kept)."""
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"sparsity must be in [0, 1), got {sparsity!r}")
    params = dict(model.named_parameters())
    masks = {}
    for name in PRUNABLE:
        w = params[name].detach()
        k = int(sparsity * w.numel())
        mask = torch.ones_like(w, dtype=torch.bool)
        if k > 0:
            threshold = w.abs().flatten().kthvalue(k).values
            mask = w.abs() > threshold
        if name != "embedding.weight":  # weight rows carry a bias; embedding rows do not
            rows = torch.arange(w.shape[0])
            mask[rows, w.abs().argmax(dim=1)] = True
        masks[name] = mask
    return masks


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask)


def sparsity_of(model: nn.Module) -> float:
    """Share of exact zeros over the prunable matrices."""
    params = dict(model.named_parameters())
    zeros = sum(int((params[n] == 0).sum()) for n in PRUNABLE)
    total = sum(params[n].numel() for n in PRUNABLE)
    return zeros / total


@dataclass
class PruneResult:
    model: TinyLSTM  # pruned, fine-tuned, eval mode
    sparsity: float  # achieved share of zeros in the prunable matrices
    schedule: list[float]  # the per-round target sparsities


def iterative_prune(
    model: TinyLSTM,
    train_ids: Sequence[Sequence[int]],
    train_y: torch.Tensor,
    *,
    target: float = 0.5,
    rounds: int = 3,
    steps_per_round: int = 100,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> PruneResult:
    """Prune ``model`` in place to ``target`` sparsity over ``rounds`` prune/fine-tune rounds."""
    if rounds < 1 or steps_per_round < 0:
        raise ConfigError("rounds must be >= 1 and steps_per_round >= 0")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = [target * (1.0 - (1.0 - r / rounds) ** 3) for r in range(1, rounds + 1)]
    for goal in schedule:
        # 1. Prune to this round's sparsity.
        masks = magnitude_masks(model, goal)
        apply_masks(model, masks)
        # 2. Fine-tune with the masks held.
        model.train()
        for _ in range(steps_per_round):
            batch = [rng.randrange(len(train_ids)) for _ in range(batch_size)]
            x, lengths = pad_ids([train_ids[k] for k in batch])
            loss = F.cross_entropy(model(x, lengths), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            apply_masks(model, masks)
    model.eval()
    return PruneResult(model, sparsity_of(model), schedule)
