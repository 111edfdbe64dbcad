"""A seeded, bilingual synthetic corpus of logistics alerts with drift phases.

Phase 0 is the world the first student is trained on; each later phase brings new carriers
and place names (``entities``), new phrasing for existing labels (the templates' phase keys),
a shifted label mix, and phase 2 a new label (拦截, intercept). Phase 3 (the mid-year sale:
live-stream shops, cross-border parcels, a wave of returns) is generated only when asked for
(``phases=4``); phases 0-2 are the same bytes with or without it. Messages are Chinese, English
or mixed, carry surface noise (typos, full-width characters, casing, emoji, stray spaces),
some combine the cues of two labels (``ambiguous``; the gold label follows
``labels.PRIORITY``) and a small share of train/valid labels are flipped (``noisy_label``;
test labels are clean). Every record carries the character spans of its entities (waybill and
order ids, carriers, places, dates, quantities; ``models.data.spans``), through all noise.

Output is a pure function of the config: the same seed gives the same bytes (string seeds
are hashed with SHA-512 by ``random``, nothing depends on dict/set order or the clock).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.data import templates_en, templates_mix, templates_zh
from models.data.entities import NEW_WEIGHT, SlotFiller
from models.data.labels import LOGISTICS_LABELS, resolve
from models.data.noise import add_noise
from models.data.record import Example
from models.data.spans import Entity, TrackedText, render_template
from models.errors import ConfigError, DataError

GENERATOR_VERSION = 2  # 2: records carry entity spans (texts as in 1)
SPLITS = ("train", "valid", "test")
LANGS = ("zh", "en", "mix")
TEMPLATES = {
    "zh": templates_zh.TEMPLATES,
    "en": templates_en.TEMPLATES,
    "mix": templates_mix.TEMPLATES,
}
SEED_EXAMPLES = (("物流订单号DH20231125状态更新", "运输中"), ("上海仓库存预警通知", "紧急"))
SEED_ENTITIES = ((Entity(5, 15, "ID"),), (Entity(0, 2, "PLACE"),))  # as their templates fill them
NEW_LABEL = "拦截"

# Label mix per phase (relative weights): peak season (1) brings delays, exceptions and
# customs; phase 2 adds intercepts.
LABEL_MIX: dict[int, dict[str, float]] = {
    0: {"运输中": 22, "已签收": 18, "延误": 12, "异常": 8, "紧急": 10, "清关": 8, "退货": 12,
        "地址变更": 10},
    1: {"运输中": 15, "已签收": 13, "延误": 20, "异常": 12, "紧急": 12, "清关": 12, "退货": 8,
        "地址变更": 8},
    2: {"运输中": 12, "已签收": 12, "延误": 12, "异常": 10, "紧急": 8, "清关": 14, "退货": 10,
        "地址变更": 8, "拦截": 14},
    3: {"运输中": 14, "已签收": 12, "延误": 8, "异常": 10, "紧急": 6, "清关": 6, "退货": 22,
        "地址变更": 12, "拦截": 10},
}  # fmt: skip
LANG_MIX: dict[int, tuple[float, float, float]] = {
    0: (55, 30, 15),
    1: (50, 30, 20),
    2: (45, 30, 25),
    3: (40, 30, 30),
}
CONNECTORS = {
    "zh": ("，另外", "；同时", "。另：", "，还有", " "),
    "en": ("; also ", ". Also, ", " and ", " - ", ". "),
    "mix": ("，also ", "; 另外", " / ", "。"),
}


@dataclass(frozen=True)
class SynthConfig:
    """What `fleet data synth` generates."""

    seed: int = 0  # the corpus is a pure function of this config
    train: int = 6000  # train examples per phase
    valid: int = 1000  # validation examples per phase
    test: int = 1000  # test examples per phase
    phases: int = 3  # drift phases 0 .. phases-1 (1 to 3)
    label_noise: float = 0.02  # share of train/valid labels flipped to another label
    ambiguous: float = 0.08  # share of messages combining the cues of two labels
    text_noise: float = 0.35  # chance a message gets surface noise (one or more edits)
    new_label: bool = True  # phase 2 introduces 拦截 (intercept)
    holdout_templates: float = (
        0.0  # share of templates kept out of train: valid/test phrasing unseen
    )

    def __post_init__(self) -> None:
        if not 1 <= self.phases <= len(LABEL_MIX):
            raise ConfigError(f"phases must be in [1, {len(LABEL_MIX)}], got {self.phases}")
        for name in ("train", "valid", "test"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.train < len(SEED_EXAMPLES):
            raise ConfigError(f"train must be >= {len(SEED_EXAMPLES)} (the seed examples)")
        for name in ("label_noise", "ambiguous", "text_noise", "holdout_templates"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def labels(self, phase: int) -> tuple[str, ...]:
        """Labels present in ``phase``, in canonical order."""
        mix = LABEL_MIX[phase]
        return tuple(n for n in LOGISTICS_LABELS if n in mix and (self.new_label or n != NEW_LABEL))


def templates_for(
    label: str, lang: str, phase: int, holdout: float = 0.0, part: str = "all"
) -> tuple[list[str], list[float]]:
    """Templates of ``label`` in ``lang`` available in ``phase``, and their draw weights.

    With ``holdout`` > 0 the last ``round(holdout * n)`` templates of each phase's group of
    ``n`` are held out: ``part="seen"`` returns the others (for train), ``part="unseen"``
    only the held-out ones (for valid and test), ``part="all"`` everything."""
    assert part in ("all", "seen", "unseen"), f"unknown template part {part!r}"
    texts: list[str] = []
    weights: list[float] = []
    for since, group in sorted(TEMPLATES[lang].get(label, {}).items()):
        if since <= phase:
            cut = len(group) - round(holdout * len(group))
            chosen = group if part == "all" else group[:cut] if part == "seen" else group[cut:]
            texts.extend(chosen)
            weights.extend([NEW_WEIGHT if since == phase and phase > 0 else 1.0] * len(chosen))
    return texts, weights


def _render(
    rng: random.Random, label: str, lang: str, phase: int, holdout: float, part: str
) -> TrackedText:
    # Fall back to Chinese, then to all templates, where a language or part has none.
    for fallback_lang, fallback_part in ((lang, part), ("zh", part), (lang, "all")):
        texts, weights = templates_for(label, fallback_lang, phase, holdout, fallback_part)
        if texts:
            break
    assert texts, f"no templates for {label} in phase {phase}"
    template = rng.choices(texts, weights=weights)[0]
    return render_template(template, SlotFiller(rng, phase, lang))


# --- records --------------------------------------------------------------------------------


def _message(rng: random.Random, config: SynthConfig, phase: int, split: str) -> dict[str, Any]:
    """One clean record without id: text, label, lang and the ambiguity cue if any."""
    labels = config.labels(phase)
    lang = rng.choices(LANGS, weights=LANG_MIX[phase])[0]
    label = rng.choices(labels, weights=[LABEL_MIX[phase][n] for n in labels])[0]
    holdout = config.holdout_templates
    part = "all" if holdout == 0 else "seen" if split == "train" else "unseen"
    msg = _render(rng, label, lang, phase, holdout, part)
    record: dict[str, Any] = {"text": "", "label": label, "phase": phase, "lang": lang}
    if rng.random() < config.ambiguous:
        other = rng.choice([n for n in labels if n != label])
        second = _render(rng, other, lang, phase, holdout, part)
        first, last = (msg, second) if rng.random() < 0.5 else (second, msg)
        first.append(rng.choice(CONNECTORS[lang]))
        first.append(last)
        msg = first
        record["label"] = resolve(label, other)
        record["ambiguous"] = True
        record["secondary"] = other if record["label"] == label else label
    add_noise(rng, msg, lang, phase, config.text_noise)
    msg.strip()
    record["text"] = msg.text
    record["entities"] = [e.to_json() for e in msg.entities]
    return record


def generate_phase(config: SynthConfig, phase: int) -> dict[str, list[dict[str, Any]]]:
    """Records of every split of ``phase``; a text appears at most once across the splits."""
    if not 0 <= phase < config.phases:
        raise ConfigError(f"phase must be in [0, {config.phases}), got {phase}")
    rng = random.Random(f"fleet-synth:{config.seed}:{phase}")
    labels = config.labels(phase)
    seen: set[str] = set()  # membership only: never iterated, so order cannot leak out
    out: dict[str, list[dict[str, Any]]] = {}
    for split in SPLITS:
        wanted = getattr(config, split)
        records: list[dict[str, Any]] = []
        if phase == 0 and split == "train":  # the seed document's two examples
            for (text, label), entities in zip(SEED_EXAMPLES, SEED_ENTITIES, strict=True):
                records.append({"text": text, "label": label, "phase": 0, "lang": "zh",
                                "entities": [e.to_json() for e in entities]})  # fmt: skip
                seen.add(text)
        attempts = 0
        while len(records) < wanted:
            attempts += 1
            if attempts > 50 * wanted + 1000:
                raise DataError(f"phase {phase} {split}: cannot find {wanted} distinct messages")
            record = _message(rng, config, phase, split)
            if not record["text"] or record["text"] in seen:
                continue
            seen.add(record["text"])
            if split != "test" and rng.random() < config.label_noise:
                record["noisy_label"] = True
                record["clean_label"] = record["label"]
                record["label"] = rng.choice([n for n in labels if n != record["label"]])
            records.append(record)
        out[split] = [
            {"id": f"p{phase}-{split}-{i:06d}", **record} for i, record in enumerate(records)
        ]
    return out


def to_examples(records: list[dict[str, Any]]) -> list[Example]:
    """Records as ``Example``s (everything but text, label and id goes to ``meta``)."""
    return [
        Example(
            text=r["text"],
            label=r["label"],
            id=r["id"],
            meta={k: v for k, v in r.items() if k not in ("id", "text", "label")},
        )
        for r in records
    ]


def synth_examples(config: SynthConfig, phase: int, split: str) -> list[Example]:
    """One split of one phase in memory, for tests and training without files."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
    return to_examples(generate_phase(config, phase)[split])


def write_corpus(config: SynthConfig, out_dir: str | Path) -> dict[str, Any]:
    """Write ``phase{k}/{train,valid,test}.jsonl`` and ``card.json``/``card.md`` under
    ``out_dir``; return the card."""
    from models.data.card import synth_card, write_card
    from models.data.loaders import write_jsonl

    out = Path(out_dir)
    corpus = {phase: generate_phase(config, phase) for phase in range(config.phases)}
    for phase, splits in corpus.items():
        for split, records in splits.items():
            write_jsonl(out / f"phase{phase}" / f"{split}.jsonl", records)
    card = synth_card(config, corpus, out)
    write_card(card, out)
    return card
