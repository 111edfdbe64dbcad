"""A fine-tuned teacher as a distillation target source (``models.kd_targets.TargetTeacher``).

``Teacher.targets`` reads everything from the last of the teacher's chosen layers; this adapter
makes each choice explicit and part of the cache key:

- logits from the fine-tuned classification head;
- hidden states of ``hidden_layer`` (default the middle block: 6 of 12, the seed's choice);
- attention from the pooling position, averaged over the heads of ``attention_layers`` (default
  the middle and last block): the first token ([CLS] / ``<s>``) for encoders, the last real
  token for decoder-only models (the only one that has seen the whole text), or the mean over
  all real query rows (``query="mean"``, matching a mean-pooled encoder such as e5);
- character offsets from the fast tokenizer, relative to the raw text: the teacher's role
  prefix ("query: ") is tokenised but its tokens and all specials get empty ``(0, 0)`` spans,
  so they align to no student token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from models.errors import ConfigError
from models.kd_targets import TeacherSample

if TYPE_CHECKING:
    from models.teacher import Teacher

QUERIES = ("auto", "first", "last", "mean")


@dataclass(frozen=True)
class TargetConfig:
    hidden_layer: int | None = None  # block whose states feed the hidden term (None: middle)
    attention_layers: tuple[int, ...] | None = None  # blocks averaged (None: middle and last)
    query: str = "auto"  # attention row: auto (first for encoders, last for decoders) | mean
    batch_size: int = 16  # texts per teacher forward pass
    max_length: int = 128  # teacher tokens per text, prefix and specials included

    def __post_init__(self) -> None:
        if self.query not in QUERIES:
            raise ConfigError(f"query must be one of {', '.join(QUERIES)}, got {self.query!r}")
        if self.batch_size < 1 or self.max_length < 8:
            raise ConfigError("batch_size must be >= 1 and max_length >= 8")
        if self.attention_layers is not None and not self.attention_layers:
            raise ConfigError("attention_layers must name at least one layer (or be None)")


class TeacherTargets:
    """Wraps a fine-tuned :class:`models.teacher.Teacher` (built with ``attentions=True``)."""

    def __init__(self, teacher: Teacher, config: TargetConfig = TargetConfig()) -> None:
        if teacher.head is None:
            raise ConfigError(
                "distillation targets need a fine-tuned head (fleet teacher finetune)"
            )
        n = teacher.num_layers
        self.hidden_layer = config.hidden_layer or max(1, n // 2)
        self.attention_layers = tuple(config.attention_layers or sorted({max(1, n // 2), n}))
        bad = [k for k in (self.hidden_layer, *self.attention_layers) if not 1 <= k <= n]
        if bad:
            raise ConfigError(f"layers {bad} out of range: the teacher has layers 1..{n}")
        self.query = config.query
        if self.query == "auto":
            self.query = "last" if teacher.decoder_only else "first"
        self.batch_size = config.batch_size
        # The teacher returns the states and maps of exactly the layers it is told to keep.
        teacher.layers = sorted({self.hidden_layer, *self.attention_layers})
        self.teacher = teacher
        self.hidden_size = teacher.hidden_size
        self.labels = teacher.label_names
        # Every choice that changes the targets is in the id, hence in the on-disk cache key.
        self.teacher_id = (
            f"{teacher.teacher_id}|hidden={self.hidden_layer}"
            f"|attention={','.join(map(str, self.attention_layers))}|query={self.query}"
            f"|max_length={teacher.max_length}|prefix={teacher.text_prefix!r}"
        )

    @classmethod
    def load(
        cls, folder: str | Path, config: TargetConfig = TargetConfig(), attentions: bool = True
    ) -> TeacherTargets:
        """Load a folder written by ``fleet teacher finetune``; ``attentions=False`` loads the
        faster attention kernels that return no maps (enough for logits and hidden states)."""
        from models.teacher import Teacher

        teacher = Teacher(folder, attentions=attentions, max_length=config.max_length)
        return cls(teacher, config)

    def _attention_row(self, amap: torch.Tensor) -> torch.Tensor:
        """(Tt, Tt) head-averaged map over real tokens -> (Tt,) row of the pooling position."""
        if self.query == "first":
            return amap[0]
        if self.query == "last":
            return amap[-1]
        return amap.mean(0)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) head logits only: what output distillation needs, without the states."""
        return self.teacher.logits(texts)

    @torch.no_grad()
    def targets(self, texts: Sequence[str]) -> list[TeacherSample]:
        """One :class:`TeacherSample` per text: logits [C], offsets [Tt], hidden [Tt, D],
        attention [Tt] (a distribution over the text's real teacher tokens)."""
        samples: list[TeacherSample] = []
        for start in range(0, len(texts), self.batch_size):
            out = self.teacher.encode(list(texts[start : start + self.batch_size]))
            assert out.logits is not None, "a teacher with a head returns logits"
            for b in range(out.input_ids.shape[0]):
                real = out.attention_mask[b].bool()  # (T,)
                maps = [
                    out.attentions[k][b].mean(0)[real][:, real]  # (Tt, Tt), heads averaged
                    for k in self.attention_layers
                    if k in out.attentions
                ]
                attention = None
                if len(maps) == len(self.attention_layers):
                    row = self._attention_row(torch.stack(maps).mean(0))  # (Tt,)
                    attention = (row / row.sum().clamp(min=1e-12)).float().cpu().numpy()
                spans = [(int(s), int(e)) for s, e in out.offsets[b][real.cpu()].tolist()]
                hidden = out.hidden_states[self.hidden_layer][b][real]  # (Tt, D)
                samples.append(
                    TeacherSample(
                        logits=out.logits[b].float().cpu().numpy(),
                        offsets=spans,
                        hidden=hidden.float().cpu().numpy().astype(np.float32),
                        attention=attention,
                    )
                )
        return samples
