"""The teacher's per-token tag distributions, mapped onto student tokens and cached on disk.

The teacher tags its own tokens (XLM-R pieces); the student's hashed tokens cut the text
differently. Both give character spans, so each student token takes the distribution of the
first teacher token it overlaps (``models.align.overlap_matrix``), and a student token that is
not the first student token inside that teacher token gets the teacher's ``B-X`` mass as
``I-X``: a teacher piece ``SF1234567890`` tagged ``B-ID`` becomes ``sf`` = ``B-ID``,
``#10`` = ``I-ID``. Student tokens no teacher token covers (past the teacher's max length) are
masked out of the loss. Stored ragged like ``models/kd_targets.py``, under a digest of the
teacher id, the student tokenizer and the texts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from models.align import overlap_matrix
from models.data.spans import ENTITY_TYPES, TAGS, SpanTokenizer, begin_tag, inside_tag
from models.errors import ConfigError, ModelsError

if TYPE_CHECKING:
    from models.teacher import Teacher

Span = tuple[int, int]
LOG_FLOOR = float(np.log(1e-8))  # log-probability of a tag the mapping empties


class TagTeacher(Protocol):
    """What tag distillation needs of a teacher."""

    teacher_id: str  # names the weights; part of the cache key

    def tag_log_probs(self, texts: Sequence[str]) -> list[tuple[list[Span], np.ndarray]]:
        """Per text: character spans of its teacher tokens and their log-probs ``[Tt, K]``."""
        ...


class TeacherTagger:
    """A :class:`models.teacher.Teacher` with a tag head (``fleet teacher finetune --task
    tag``) as a :class:`TagTeacher`."""

    def __init__(self, teacher: Teacher, batch_size: int = 16) -> None:
        if teacher.tag_head is None:
            raise ConfigError("tag distillation needs a teacher with a tag head (--task tag)")
        self.teacher = teacher
        self.batch_size = batch_size
        self.teacher_id = (
            f"{teacher.teacher_id}|tags|max_length={teacher.max_length}"
            f"|prefix={teacher.text_prefix!r}"
        )

    @classmethod
    def load(cls, folder: str | Path, max_length: int = 128) -> TeacherTagger:
        from models.teacher import Teacher

        return cls(Teacher(folder, max_length=max_length))

    @torch.no_grad()
    def tag_log_probs(self, texts: Sequence[str]) -> list[tuple[list[Span], np.ndarray]]:
        from models.teacher.tagger import text_token_spans

        out_list: list[tuple[list[Span], np.ndarray]] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            out = self.teacher.encode(chunk)
            assert out.tag_logits is not None
            for b, text in enumerate(chunk):
                positions, spans = text_token_spans(out, b, text)
                log_p = torch.log_softmax(out.tag_logits[b, positions].float(), dim=-1)
                out_list.append((spans, log_p.cpu().numpy()))
        return out_list


def align_tag_log_probs(
    teacher_log_probs: np.ndarray, student: Sequence[Span], teacher: Sequence[Span]
) -> tuple[np.ndarray, np.ndarray]:
    """Teacher log-probs ``[Tt, K]`` -> per-student-token log-probs ``[S, K]`` and mask ``[S]``."""
    assert teacher_log_probs.shape == (len(teacher), len(TAGS)), (
        f"teacher log-probs {teacher_log_probs.shape} for {len(teacher)} tokens"
    )
    m = overlap_matrix(student, teacher).numpy().astype(bool)  # [S, Tt]
    out = np.full((len(student), len(TAGS)), LOG_FLOOR, dtype=np.float32)
    mask = np.asarray(m.any(axis=1), dtype=bool)
    for s in np.flatnonzero(mask):
        t0 = int(np.flatnonzero(m[s])[0])
        p = np.exp(teacher_log_probs[t0].astype(np.float64))
        if m[:s, t0].any():  # an earlier student token starts this teacher token
            for kind in ENTITY_TYPES:
                p[inside_tag(kind)] += p[begin_tag(kind)]
                p[begin_tag(kind)] = 0.0
        out[s] = np.log(np.maximum(p, 1e-8))
    return out, mask


@dataclass
class TagTargets:
    """Aligned teacher tag log-probs for N texts, ragged over student tokens."""

    log_probs: torch.Tensor  # [sum S_i, K] float32
    mask: torch.Tensor  # [sum S_i] bool
    offsets: torch.Tensor  # [N + 1] int64

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    def batch(self, rows: Sequence[int], width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_probs [B, W, K], mask [B, W])`` of ``rows`` padded to ``width`` tokens."""
        log_probs = torch.full((len(rows), width, len(TAGS)), LOG_FLOOR)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for b, r in enumerate(rows):
            lo, hi = int(self.offsets[r]), int(self.offsets[r + 1])
            n = min(hi - lo, width)
            log_probs[b, :n] = self.log_probs[lo : lo + n]
            mask[b, :n] = self.mask[lo : lo + n]
        return log_probs, mask


def compute_tag_targets(
    teacher: TagTeacher, tokenizer: SpanTokenizer, texts: Sequence[str], batch_size: int = 64
) -> TagTargets:
    rows, masks, offsets = [], [], [0]
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        results = teacher.tag_log_probs(chunk)
        if len(results) != len(chunk):
            raise ModelsError(f"teacher returned {len(results)} tag rows for {len(chunk)} texts")
        for text, (spans, log_p) in zip(chunk, results, strict=True):
            student = [(s, e) for _, s, e in tokenizer.encode_with_spans(text)]
            aligned, mask = align_tag_log_probs(log_p, student, spans)
            rows.append(aligned)
            masks.append(mask)
            offsets.append(offsets[-1] + len(student))
    k = len(TAGS)
    return TagTargets(
        log_probs=torch.from_numpy(np.concatenate(rows) if rows else np.zeros((0, k), np.float32)),
        mask=torch.from_numpy(np.concatenate(masks) if masks else np.zeros(0, bool)),
        offsets=torch.tensor(offsets, dtype=torch.long),
    )


def cached_tag_targets(
    teacher: TagTeacher,
    tokenizer: SpanTokenizer,
    texts: Sequence[str],
    cache_dir: str | Path | None,
) -> tuple[TagTargets, bool]:
    """``compute_tag_targets`` behind an on-disk cache; returns ``(targets, from_cache)``."""
    if cache_dir is None:
        return compute_tag_targets(teacher, tokenizer, texts), False
    h = hashlib.sha256()
    h.update(json.dumps([teacher.teacher_id, repr(tokenizer)]).encode())  # repr: its parameters
    for text in texts:
        h.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    path = Path(cache_dir) / f"tags-{h.hexdigest()[:32]}.safetensors"
    if path.exists():
        try:
            a = load_file(str(path))
            return TagTargets(
                log_probs=torch.from_numpy(a["log_probs"]),
                mask=torch.from_numpy(a["mask"].astype(bool)),
                offsets=torch.from_numpy(a["offsets"]),
            ), True
        except (OSError, ValueError, KeyError):  # a torn or foreign file: recompute it
            path.unlink(missing_ok=True)
    targets = compute_tag_targets(teacher, tokenizer, texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"log_probs": targets.log_probs.numpy(),
               "mask": targets.mask.numpy().astype(np.uint8),
               "offsets": targets.offsets.numpy()}, str(tmp))  # fmt: skip
    tmp.replace(path)
    return targets, False
