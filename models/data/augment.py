"""Transfer-set augmentation for distillation (Tang et al. 2019, "Distilling Task-Specific
Knowledge from BERT into Simple Neural Networks", section 3.3).

A labeled set is too small to show the student how the teacher behaves, so each example is
rewritten into new, unlabeled texts that the teacher labels later:

- masking: each unit is replaced by ``MASK`` with probability ``p_mask``;
- synonym replacement (the paper's POS-guided swap): else, with probability ``p_synonym``, a
  unit from ``SYNONYMS`` becomes one of its synonyms (物流 -> 货运, 状态 -> 情况, ...);
- context swap (the paper's POS-guided replacement, without a POS tagger, so it works for any
  language and data set): else, with probability ``p_swap``, a unit becomes another unit seen
  in the same context in the corpus - the same left and right neighbour, else the same left or
  right neighbour - drawn by frequency from the example's own class first. Units that share
  neighbours are mostly of one part of speech ("transfer"/"send" after "to", 查/看 before
  "一下"), which is what the paper's swap preserves;
- n-gram sampling: with probability ``p_ngram`` only a random n-gram (n in 1..5) of the
  rewritten units is kept.

Units are the tokenizer's tokens (ASCII words, numbers, each CJK character, each symbol)
except that a phrase of the synonym table (possibly several CJK characters) is one unit.

``MASK`` is "□" (U+25A1 WHITE SQUARE): one SINGLE token for our tokenizer, so it hashes to a
fixed id like the paper's [MASK] word, it never occurs in the synthetic corpus, and a
transformer teacher reads it as an unknown symbol rather than as a word.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from models.data.record import Example
from models.errors import ConfigError
from models.tokenizer import Tokenizer

MASK = "□"
MAX_NGRAM = 5  # the paper's n-gram range is 1..5

# Groups of interchangeable phrases; extend by adding a tuple. Chinese phrases match anywhere
# (longest first), English ones as whole words, case-insensitively.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("物流", "货运"),
    ("状态", "情况"),
    ("快递", "快件", "包裹"),
    ("订单号", "单号"),
    ("运单", "面单"),
    ("延误", "延迟", "推迟"),
    ("破损", "损坏"),
    ("丢失", "遗失"),
    ("库存", "存货"),
    ("预警", "告警"),
    ("紧急", "加急"),
    ("退款", "返款"),
    ("地址", "住址"),
    ("修改", "更改"),
    ("派送", "配送", "投递"),
    ("送达", "送到"),
    ("运输", "运送"),
    ("发货", "出货"),
    ("客户", "顾客"),
    ("通知", "提醒"),
    ("更新", "变动"),
    ("清关", "通关"),
    ("关税", "税费"),
    ("取消", "撤销"),
    ("尽快", "马上", "立即"),
    ("收件人", "收货人"),
    ("申请", "请求"),
    ("parcel", "package", "shipment"),
    ("delayed", "late"),
    ("damaged", "broken"),
    ("lost", "missing"),
    ("delivered", "dropped off"),
    ("address", "location"),
    ("change", "update"),
    ("urgent", "rush"),
    ("stock", "inventory"),
    ("refund", "reimbursement"),
    ("return", "send back"),
    ("tracking number", "waybill"),
    ("courier", "driver"),
    ("warehouse", "depot"),
    ("cancel", "call off"),
    ("intercept", "stop"),
    ("please", "kindly"),
    ("cannot", "can't"),
    ("arrived", "landed"),
)


def synonym_table(groups: Iterable[Sequence[str]] = SYNONYM_GROUPS) -> dict[str, tuple[str, ...]]:
    """Each phrase (lower case) -> the other phrases of its group."""
    table: dict[str, tuple[str, ...]] = {}
    for group in groups:
        for phrase in group:
            table[phrase.lower()] = tuple(p for p in group if p != phrase)
    return table


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities of Tang et al.'s rewrites (their defaults: 0.1 mask, 0.1 POS-guided swap,
    0.25 n-gram sampling); the synonym table is this project's logistics addition."""

    p_mask: float = 0.1  # per unit: replace by MASK
    p_synonym: float = 0.1  # per unit with synonyms: replace by one of them
    p_swap: float = 0.1  # per unit: replace by a unit seen in the same context (corpus only)
    p_ngram: float = 0.25  # per text: keep only a random n-gram, n in 1..5
    max_tries: int = 10  # attempts per wanted text before giving up on duplicates

    def __post_init__(self) -> None:
        for name in ("p_mask", "p_synonym", "p_swap", "p_ngram"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.p_mask + self.p_synonym + self.p_swap > 1.0:
            raise ConfigError("p_mask + p_synonym + p_swap must be <= 1 (they exclude each other)")
        if self.max_tries < 1:
            raise ConfigError(f"max_tries must be >= 1, got {self.max_tries}")


BOUNDARY = "\x00"  # the neighbour of a text's first and last unit in the context index


class ContextIndex:
    """Which units occur between which neighbours, per class: the swap's candidate lists.

    Units are compared lower-cased; counts keep their frequency, so a draw from a list picks
    frequent units more often (the paper samples from the unigram distribution of the POS).
    """

    def __init__(self, unit_lists: Iterable[tuple[str, list[str]]]) -> None:
        # (class or None, context) -> units seen there, with repetition
        self._lists: dict[tuple[str | None, tuple[str, ...]], list[str]] = defaultdict(list)
        for label, units in unit_lists:
            padded = [BOUNDARY, *(u.lower() for u in units), BOUNDARY]
            for i in range(1, len(padded) - 1):
                left, unit, right = padded[i - 1], padded[i], padded[i + 1]
                for context in (("lr", left, right), ("l", left), ("r", right)):
                    self._lists[(label, context)].append(unit)
                    self._lists[(None, context)].append(unit)

    def draw(
        self, label: str | None, left: str, unit: str, right: str, rng: random.Random
    ) -> str | None:
        """Another unit seen between ``left`` and ``right`` (then after ``left``, then before
        ``right``), from ``label``'s examples first; None when no context has another."""
        for context in (("lr", left, right), ("l", left), ("r", right)):
            for scope in (label, None) if label is not None else (None,):
                pool = self._lists.get((scope, context), [])
                for _ in range(4):  # a few draws: the unit itself is usually frequent here
                    if not pool:
                        break
                    pick = rng.choice(pool)
                    if pick != unit.lower():
                        return pick
        return None


class Augmenter:
    """Rewrites one text at a time; the synonym table is compiled once. The context swap
    needs a corpus (:meth:`index_corpus`); without one it never fires."""

    def __init__(
        self,
        config: AugmentConfig | None = None,
        groups: Iterable[Sequence[str]] = SYNONYM_GROUPS,
    ) -> None:
        self.config = config or AugmentConfig()
        self.synonyms = synonym_table(groups)
        self._tokenizer = Tokenizer(max_len=1024)
        phrases = sorted(self.synonyms, key=lambda p: (-len(p), p))  # longest match first
        parts = [re.escape(p) if not p.isascii() else rf"(?<![a-z]){re.escape(p)}(?![a-z])"
                 for p in phrases]  # fmt: skip
        self._pattern = re.compile("|".join(parts), re.IGNORECASE)
        self.contexts: ContextIndex | None = None

    def index_corpus(self, examples: Sequence[Example]) -> None:
        """Build the context swap's index from ``examples`` (their units and classes)."""
        self.contexts = ContextIndex(
            (e.label, [u for _, u, _ in self.units(e.text)]) for e in examples
        )

    def units(self, text: str) -> list[tuple[str, str, bool]]:
        """``(gap before, unit, has synonyms)`` for each unit of ``text``, in order; the text is
        ``"".join(gap + unit)`` plus any untokenized tail."""
        phrase_spans = [(m.start(), m.end()) for m in self._pattern.finditer(text)]
        spans: list[tuple[int, int]] = []
        for _, start, end in self._tokenizer.encode_with_spans(text):
            inside = [p for p in phrase_spans if p[0] <= start and end <= p[1]]
            span = inside[0] if inside else (start, end)
            if not spans or spans[-1] != span:
                spans.append(span)
        out: list[tuple[str, str, bool]] = []
        pos = 0
        for start, end in spans:
            if start < pos:  # a phrase overlapping a token it does not contain: keep the token
                continue
            unit = text[start:end]
            out.append((text[pos:start], unit, unit.lower() in self.synonyms))
            pos = end
        return out

    def rewrite(self, text: str, rng: random.Random, label: str | None = None) -> str:
        """One augmented version of ``text`` (may equal it); ``label`` scopes the swap."""
        units = self.units(text)
        if not units:
            return text
        c = self.config
        new: list[tuple[str, str]] = []
        for i, (gap, unit, has_synonyms) in enumerate(units):
            x = rng.random()
            if x < c.p_mask:
                unit = MASK
            elif x < c.p_mask + c.p_synonym:
                if has_synonyms:
                    unit = rng.choice(self.synonyms[unit.lower()])
            elif x < c.p_mask + c.p_synonym + c.p_swap and self.contexts is not None:
                left = units[i - 1][1].lower() if i > 0 else BOUNDARY
                right = units[i + 1][1].lower() if i + 1 < len(units) else BOUNDARY
                swapped = self.contexts.draw(label, left, unit, right, rng)
                if swapped is not None:
                    # a Latin unit next to another gets a space, or the two would fuse
                    gap = " " if not gap and new and swapped[:1].isascii() else gap
                    unit = swapped
            new.append((gap, unit))
        if rng.random() < self.config.p_ngram:
            n = rng.randint(1, min(MAX_NGRAM, len(new)))
            start = rng.randrange(len(new) - n + 1)
            new = [("", new[start][1]), *new[start + 1 : start + n]]
        return "".join(gap + unit for gap, unit in new).strip()


def augment_records(
    examples: Sequence[Example],
    n_per_example: int,
    seed: int,
    config: AugmentConfig | None = None,
) -> list[dict[str, Any]]:
    """Up to ``n_per_example`` new, distinct texts per example, as records
    ``{"id", "text", "source_id", "index"}`` (unlabeled: the teacher labels them; ``index`` is
    the text's number among its example's, so the records with ``index < n`` are the transfer
    set of ``n`` texts per example). Texts equal to any input text or to an earlier output are
    dropped, so fewer may come back."""
    if n_per_example < 0:
        raise ConfigError(f"n_per_example must be >= 0, got {n_per_example}")
    augmenter = Augmenter(config)
    if augmenter.config.p_swap > 0:
        augmenter.index_corpus(examples)
    rng = random.Random(f"fleet-augment:{seed}")
    seen = {e.text for e in examples}  # membership only: never iterated
    records = []
    for index, example in enumerate(examples):
        source_id = example.id if example.id is not None else str(index)
        made = 0
        for _ in range(n_per_example * augmenter.config.max_tries):
            if made == n_per_example:
                break
            text = augmenter.rewrite(example.text, rng, example.label)
            if not text or text in seen:
                continue
            seen.add(text)
            records.append(
                {"id": f"{source_id}-aug{made}", "text": text, "source_id": source_id,
                 "index": made}
            )  # fmt: skip
            made += 1
    return records


def augment_corpus(
    examples: Sequence[Example],
    n_per_example: int,
    seed: int,
    config: AugmentConfig | None = None,
) -> list[str]:
    """The augmented texts of ``augment_records`` (same seed, same texts, same order)."""
    return [r["text"] for r in augment_records(examples, n_per_example, seed, config)]
