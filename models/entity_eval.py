"""Entity-level precision, recall and F1 with exact span match, overall, per type, per language.

A predicted entity counts as correct only when its type, start and end all equal a gold
entity's character span (micro-averaged over entities, like conlleval). Every model is scored
against the same gold spans of the corpus, whatever its tokens: the student's tokens can
express 99.9 % of them exactly, the teacher's (XLM-R pieces, leading space trimmed) 99.7 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from models.data.spans import ENTITY_TYPES, Entity, TextExample, example_entities


@dataclass
class Counts:
    tp: int = 0
    predicted: int = 0
    gold: int = 0

    def add(self, gold: set[Entity], predicted: set[Entity]) -> None:
        self.tp += len(gold & predicted)
        self.predicted += len(predicted)
        self.gold += len(gold)

    @property
    def precision(self) -> float:
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "gold": self.gold, "predicted": self.predicted, "correct": self.tp}  # fmt: skip


@dataclass
class EntityReport:
    overall: Counts = field(default_factory=Counts)
    by_type: dict[str, Counts] = field(default_factory=dict)
    by_lang: dict[str, Counts] = field(default_factory=dict)
    messages: int = 0

    @property
    def f1(self) -> float:
        return self.overall.f1

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            **self.overall.to_dict(),
            "by_type": {k: self.by_type[k].to_dict() for k in ENTITY_TYPES if k in self.by_type},
            "by_lang": {k: v.to_dict() for k, v in sorted(self.by_lang.items())},
        }


def entity_report(
    gold: Sequence[Sequence[Entity]],
    predicted: Sequence[Sequence[Entity]],
    langs: Sequence[str] | None = None,
) -> EntityReport:
    """Counts over messages: ``gold[i]`` and ``predicted[i]`` belong to message ``i``."""
    assert len(gold) == len(predicted), f"{len(gold)} gold vs {len(predicted)} predicted rows"
    langs = langs if langs is not None else ["?"] * len(gold)
    assert len(langs) == len(gold), "one language per message"
    report = EntityReport(by_type={k: Counts() for k in ENTITY_TYPES}, messages=len(gold))
    for g_row, p_row, lang in zip(gold, predicted, langs, strict=True):
        g, p = set(g_row), set(p_row)
        report.overall.add(g, p)
        report.by_lang.setdefault(lang, Counts()).add(g, p)
        for kind in ENTITY_TYPES:
            report.by_type[kind].add(
                {e for e in g if e.type == kind}, {e for e in p if e.type == kind}
            )
    return report


def scored_examples(
    examples: Sequence[TextExample],
) -> tuple[list[list[Entity]], list[str], list[str]]:
    """``(gold entities, texts, languages)`` of the examples that have gold entities."""
    gold, texts, langs = [], [], []
    for ex in examples:
        entities = example_entities(ex)
        if entities is None:
            continue
        gold.append(entities)
        texts.append(ex.text)
        langs.append(str((getattr(ex, "meta", None) or {}).get("lang", "?")))
    return gold, texts, langs
