"""Teacher targets for distillation, aligned to student tokens and cached on disk.

For every text the teacher gives logits (after fine-tuning on the label set), the hidden states
of one chosen layer and, where the model gives them, its attention from the pooling position.
These are aligned to the student's tokens by character span (models/align.py) once, and stored
ragged (one row per student token) in a safetensors file named by a digest of the teacher id,
the student tokenizer and the texts, so repeated runs on the same data do not rerun the teacher.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from models.align import align_attention, align_hidden
from models.errors import ModelsError
from models.tokenizer import SPEC_VERSION, Tokenizer

Span = tuple[int, int]


@dataclass(frozen=True)
class TeacherSample:
    """What the teacher says about one text (real tokens only, specials allowed as empty spans)."""

    logits: np.ndarray  # [C] class logits (or log-probabilities)
    offsets: list[Span]  # [Tt] character span of each teacher token; (0, 0) for specials
    hidden: np.ndarray  # [Tt, D] hidden states of the chosen layer(s)
    attention: np.ndarray | None  # [Tt] attention from the pooling position, or None


class TargetTeacher(Protocol):
    """The part of a teacher that distillation needs (models/teacher provides one)."""

    teacher_id: str  # names the weights; part of the cache key
    hidden_size: int  # D

    def targets(self, texts: Sequence[str]) -> list[TeacherSample]: ...

    def logits(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class KDTargets:
    """Teacher targets for N texts, ragged over student tokens."""

    logits: torch.Tensor  # [N, C] float32
    hidden: torch.Tensor  # [sum S_i, D] float16, teacher states aligned to student tokens
    attention: torch.Tensor  # [sum S_i] float32, aligned attention (zeros when unavailable)
    mask: torch.Tensor  # [sum S_i] bool, student tokens that some teacher token overlaps
    offsets: torch.Tensor  # [N + 1] int64, rows of text i are offsets[i]:offsets[i+1]
    has_attention: bool

    def __len__(self) -> int:
        return int(self.logits.shape[0])

    def batch(
        self, rows: Sequence[int], width: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Targets of ``rows`` padded to ``width`` student tokens.

        Returns ``(logits [B, C], hidden [B, W, D] float32, attention [B, W], mask [B, W])``.
        """
        d = self.hidden.shape[1]
        hidden = torch.zeros(len(rows), width, d)  # [B, W, D]
        attention = torch.zeros(len(rows), width)  # [B, W]
        mask = torch.zeros(len(rows), width, dtype=torch.bool)  # [B, W]
        for b, r in enumerate(rows):
            lo, hi = int(self.offsets[r]), int(self.offsets[r + 1])
            n = min(hi - lo, width)
            hidden[b, :n] = self.hidden[lo : lo + n].float()
            attention[b, :n] = self.attention[lo : lo + n]
            mask[b, :n] = self.mask[lo : lo + n]
        return self.logits[list(rows)], hidden, attention, mask


def cache_key(teacher_id: str, texts: Sequence[str], *params: object) -> str:
    """Digest of the teacher, the texts and whatever else shapes the cached values."""
    h = hashlib.sha256()
    h.update(json.dumps([teacher_id, *params]).encode())
    for text in texts:
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def compute_targets(
    teacher: TargetTeacher,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    batch_size: int = 32,
) -> KDTargets:
    """Run the teacher over ``texts`` and align its outputs to the student's tokens."""
    logits, hidden, attention, mask, offsets = [], [], [], [], [0]
    has_attention = True
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        samples = teacher.targets(chunk)
        if len(samples) != len(chunk):
            raise ModelsError(f"teacher returned {len(samples)} samples for {len(chunk)} texts")
        for text, sample in zip(chunk, samples, strict=True):
            spans = [(s, e) for _, s, e in tokenizer.encode_with_spans(text)]
            h = torch.as_tensor(sample.hidden, dtype=torch.float32)  # [Tt, D]
            aligned, m = align_hidden(h, spans, sample.offsets)  # [S, D], [S]
            if sample.attention is None:
                has_attention = False
                att = torch.zeros(len(spans))
            else:
                att = align_attention(
                    torch.as_tensor(sample.attention, dtype=torch.float32), spans, sample.offsets
                )  # [S]
            logits.append(torch.as_tensor(sample.logits, dtype=torch.float32))
            hidden.append(aligned.half())
            attention.append(att)
            mask.append(m)
            offsets.append(offsets[-1] + len(spans))
    d = teacher.hidden_size
    return KDTargets(
        logits=torch.stack(logits) if logits else torch.zeros(0, 0),
        hidden=torch.cat(hidden) if hidden else torch.zeros(0, d, dtype=torch.float16),
        attention=torch.cat(attention) if attention else torch.zeros(0),
        mask=torch.cat(mask) if mask else torch.zeros(0, dtype=torch.bool),
        offsets=torch.tensor(offsets, dtype=torch.long),
        has_attention=has_attention and bool(logits),
    )


def cached_targets(
    teacher: TargetTeacher,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    cache_dir: str | Path | None,
    batch_size: int = 32,
) -> tuple[KDTargets, bool]:
    """``compute_targets`` behind an on-disk cache; returns ``(targets, came_from_cache)``."""
    if cache_dir is None:
        return compute_targets(teacher, tokenizer, texts, batch_size), False
    key = cache_key(teacher.teacher_id, texts, SPEC_VERSION, tokenizer.max_len)
    path = Path(cache_dir) / f"{key}.safetensors"
    if path.exists():
        try:
            arrays = load_file(str(path))
            return _from_arrays(arrays), True
        except (OSError, ValueError, KeyError):  # a torn or foreign file: recompute it
            path.unlink(missing_ok=True)
    targets = compute_targets(teacher, tokenizer, texts, batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(_to_arrays(targets), str(tmp))
    tmp.replace(path)
    return targets, False


def cached_logits(
    teacher: TargetTeacher, texts: Sequence[str], cache_dir: str | Path | None
) -> tuple[torch.Tensor, bool]:
    """The teacher's logits ``[N, C]`` of ``texts`` behind the same on-disk cache (a file of
    its own: logits alone are all output distillation needs, and they are small even for a
    transfer set of 10^5 texts); returns ``(logits, came_from_cache)``."""
    if cache_dir is None:
        return torch.from_numpy(np.asarray(teacher.logits(texts), dtype=np.float32)), False
    path = Path(cache_dir) / f"{cache_key(teacher.teacher_id, texts, 'logits')}.safetensors"
    if path.exists():
        try:
            return torch.from_numpy(load_file(str(path))["logits"]), True
        except (OSError, ValueError, KeyError):  # a torn or foreign file: recompute it
            path.unlink(missing_ok=True)
    logits = np.asarray(teacher.logits(texts), dtype=np.float32)
    if logits.shape[0] != len(texts):
        raise ModelsError(f"teacher returned {logits.shape[0]} rows for {len(texts)} texts")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"logits": logits}, str(tmp))
    tmp.replace(path)
    return torch.from_numpy(logits), False


def _to_arrays(t: KDTargets) -> dict[str, np.ndarray]:
    return {
        "logits": t.logits.numpy(),
        "hidden": t.hidden.numpy(),
        "attention": t.attention.numpy(),
        "mask": t.mask.numpy().astype(np.uint8),
        "offsets": t.offsets.numpy(),
        "has_attention": np.array([int(t.has_attention)], dtype=np.uint8),
    }


def _from_arrays(a: dict[str, np.ndarray]) -> KDTargets:
    return KDTargets(
        logits=torch.from_numpy(a["logits"]),
        hidden=torch.from_numpy(a["hidden"]),
        attention=torch.from_numpy(a["attention"]),
        mask=torch.from_numpy(a["mask"].astype(bool)),
        offsets=torch.from_numpy(a["offsets"]),
        has_attention=bool(a["has_attention"][0]),
    )
