"""The student's entity tagger: gold tags per example, the joint loss, decoding and scoring.

A student with ``StudentConfig.num_tags = len(TAGS)`` has a linear tagging head on its BiLSTM
outputs (``2H -> tags``, the emissions) and a linear-chain CRF (``models/crf.py``). Training
adds to the classification loss, which stays as it was::

    tag = (1 - alpha) * CRF NLL on gold tags  +  alpha * KL(teacher_T || student_T) * T^2

The CRF term is the negative log-likelihood of the gold path per gold token (rows without gold
tags, such as augmented transfer texts, have none); the distillation term compares the
student's per-token emissions with the teacher's per-token tag distributions, mapped onto
student tokens (``models/tag_targets.py``), both softened at temperature ``T``, averaged over
the student tokens some teacher token covers. Without a teacher (or in the hard stage) the tag
loss is the CRF term alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from models.batching import pad_ids
from models.data.spans import (
    IGNORE_TAG,
    TAGS,
    Entity,
    SpanTokenizer,
    TextExample,
    bio_tags,
    example_entities,
    tags_to_entities,
)
from models.entity_eval import EntityReport, entity_report, scored_examples
from models.errors import ConfigError
from models.student import TinyLSTM
from models.tag_targets import TagTargets, TagTeacher, cached_tag_targets

NUM_TAGS = len(TAGS)


@dataclass(frozen=True)
class TagLossConfig:
    weight: float = 1.0  # weight of the whole tag loss next to the classification loss
    alpha: float = 0.3  # share of the emission KD term (1 - alpha: CRF on gold tags)
    temperature: float = 1.0  # softening temperature T of the emission KD term

    def __post_init__(self) -> None:
        if self.weight < 0 or not 0.0 <= self.alpha <= 1.0 or self.temperature <= 0:
            raise ConfigError("tag loss: weight >= 0, alpha in [0, 1] and temperature > 0")


def has_tagger(model: TinyLSTM) -> bool:
    return model.config.num_tags > 0


def gold_tag_rows(
    examples: Sequence[TextExample], tokenizer: SpanTokenizer
) -> list[list[int] | None]:
    """Gold BIO tags per example (None where an example has no ``entities``)."""
    rows: list[list[int] | None] = []
    for ex in examples:
        entities = example_entities(ex)
        rows.append(None if entities is None else bio_tags(tokenizer, ex.text, entities))
    return rows


def pad_tags(rows: Sequence[Sequence[int] | None], width: int) -> torch.Tensor:
    """Tag rows padded to ``[B, width]`` with ``IGNORE_TAG`` (whole row when None)."""
    out = torch.full((len(rows), width), IGNORE_TAG, dtype=torch.long)
    for b, row in enumerate(rows):
        if row is not None:
            n = min(len(row), width)
            out[b, :n] = torch.as_tensor(row[:n], dtype=torch.long)
    return out


def crf_term(
    model: TinyLSTM, emissions: torch.Tensor, lengths: torch.Tensor, gold: torch.Tensor
) -> torch.Tensor:
    """CRF NLL of the rows that have gold tags, divided by their gold tokens (0 if none)."""
    has_gold = (gold[:, 0] != IGNORE_TAG) & (lengths > 0)
    if not bool(has_gold.any()):
        return emissions.sum() * 0.0
    nll = model.crf.nll(emissions[has_gold], gold[has_gold], lengths[has_gold])
    return nll.sum() / lengths[has_gold].sum().clamp(min=1)


def emission_kd(
    emissions: torch.Tensor, teacher_log_probs: torch.Tensor, mask: torch.Tensor, t: float
) -> torch.Tensor:
    """``KL(teacher_T || student_T) * T^2`` per token, averaged over ``mask`` ``[B, W]``."""
    assert emissions.shape == teacher_log_probs.shape, (
        f"{tuple(emissions.shape)} vs {tuple(teacher_log_probs.shape)}"
    )
    if not bool(mask.any()):
        return emissions.sum() * 0.0
    log_s = F.log_softmax(emissions[mask] / t, dim=-1)  # [N, K]
    log_t = F.log_softmax(teacher_log_probs[mask] / t, dim=-1)
    return F.kl_div(log_s, log_t, reduction="batchmean", log_target=True) * t * t


def tag_loss(
    config: TagLossConfig,
    model: TinyLSTM,
    emissions: torch.Tensor,
    lengths: torch.Tensor,
    gold: torch.Tensor,
    teacher_log_probs: torch.Tensor | None = None,
    teacher_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(weighted total, crf, kd)``; ``kd`` is zero without teacher targets."""
    crf = crf_term(model, emissions, lengths, gold)
    if teacher_log_probs is None or teacher_mask is None:
        return config.weight * crf, crf, crf * 0.0
    kd = emission_kd(emissions, teacher_log_probs, teacher_mask, config.temperature)
    total = (1.0 - config.alpha) * crf + config.alpha * kd
    return config.weight * total, crf, kd


@torch.no_grad()
def predict_tags(
    model: TinyLSTM, sequences: Sequence[Sequence[int]], batch_size: int = 256
) -> list[list[int]]:
    """Viterbi tag paths of already tokenised sequences (model in eval mode)."""
    if not has_tagger(model):
        raise ConfigError("this student has no tagging head (num_tags = 0)")
    was_training = model.training
    model.eval()
    out: list[list[int]] = []
    for start in range(0, len(sequences), batch_size):
        ids, lengths = pad_ids(sequences[start : start + batch_size])
        emissions = model.features(ids, lengths).emissions
        assert emissions is not None
        out += model.crf.decode(emissions, lengths)
    model.train(was_training)
    return out


def token_spans(tokenizer: SpanTokenizer, text: str) -> list[tuple[int, int]]:
    return [(s, e) for _, s, e in tokenizer.encode_with_spans(text)]


def predict_entities(
    model: TinyLSTM, tokenizer: SpanTokenizer, texts: Sequence[str]
) -> list[list[Entity]]:
    """Entities (character spans) the float student finds in each text."""
    encoded = [tokenizer.encode_with_spans(t) for t in texts]
    paths = predict_tags(model, [[i for i, _, _ in row] for row in encoded])
    return [
        tags_to_entities(path, [(s, e) for _, s, e in row])
        for path, row in zip(paths, encoded, strict=True)
    ]


def evaluate_tagger(
    model: TinyLSTM, tokenizer: SpanTokenizer, examples: Sequence[TextExample]
) -> EntityReport:
    """Entity P/R/F1 (exact span) of the float student on examples with gold entities."""
    gold, texts, langs = scored_examples(examples)
    return entity_report(gold, predict_entities(model, tokenizer, texts), langs)


def selection_score(row: dict[str, object]) -> float:
    """What picks the best epoch: validation macro-F1, or for a tagging student the mean of
    macro-F1 and entity F1 (``valid_selection``), so the kept weights tag well too."""
    value = row.get("valid_selection", row["valid_macro_f1"])
    assert isinstance(value, float | int)
    return float(value)


class TagTraining:
    """The tag side of one training run: gold tags per row, optional teacher targets."""

    def __init__(
        self,
        config: TagLossConfig,
        gold: Sequence[Sequence[int] | None],
        targets: TagTargets | None = None,
    ) -> None:
        if targets is not None and len(targets) != len(gold):
            raise ConfigError(f"{len(targets)} teacher tag rows for {len(gold)} texts")
        self.config, self.gold, self.targets = config, list(gold), targets

    @classmethod
    def build(
        cls,
        config: TagLossConfig,
        examples: Sequence[TextExample],
        extra_texts: Sequence[str],
        tokenizer: SpanTokenizer,
        teacher: TagTeacher | None = None,
        cache_dir: str | Path | None = None,
    ) -> TagTraining:
        """Gold tags of ``examples`` (none for ``extra_texts``, e.g. transfer texts) and, with a
        teacher, its tag targets for all of them (the same row order)."""
        gold = gold_tag_rows(examples, tokenizer) + [None] * len(extra_texts)
        if not any(row is not None for row in gold) and teacher is None:
            raise ConfigError("a tagging student needs examples with entities or a tag teacher")
        targets = None
        if teacher is not None:
            texts = [ex.text for ex in examples] + list(extra_texts)
            targets, _ = cached_tag_targets(teacher, tokenizer, texts, cache_dir)
        return cls(config, gold, targets)

    def loss(
        self,
        model: TinyLSTM,
        emissions: torch.Tensor | None,
        lengths: torch.Tensor,
        rows: Sequence[int],
        use_teacher: bool,
    ) -> torch.Tensor:
        """The weighted tag loss of batch ``rows`` (emissions ``[B, W, K]``)."""
        assert emissions is not None, "the student has no tagging head"
        width = emissions.shape[1]
        gold = pad_tags([self.gold[r] for r in rows], width)
        t_log_probs = t_mask = None
        if use_teacher and self.targets is not None:
            t_log_probs, t_mask = self.targets.batch(rows, width)
        total, _, _ = tag_loss(self.config, model, emissions, lengths, gold, t_log_probs, t_mask)
        return total

    def validate(
        self,
        model: TinyLSTM,
        tokenizer: SpanTokenizer,
        valid: Sequence[TextExample],
        macro_f1: float,
    ) -> dict[str, float]:
        """Entity F1 on ``valid`` and the selection score of this epoch."""
        entity_f1 = evaluate_tagger(model, tokenizer, valid).f1
        return {"valid_entity_f1": entity_f1, "valid_selection": (macro_f1 + entity_f1) / 2}
