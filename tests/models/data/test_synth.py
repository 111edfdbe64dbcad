"""The synthetic logistics corpus: reproducibility, content, drift, noise, card and CLI."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import string
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.data import load_examples
from models.data.entities import SlotFiller
from models.data.labels import ENGLISH, LOGISTICS_LABELS, canonical_label, resolve
from models.data.synth import (
    SEED_EXAMPLES,
    TEMPLATES,
    SynthConfig,
    generate_phase,
    synth_examples,
    templates_for,
    write_corpus,
)
from models.errors import ConfigError, DataError
from services.cli import build_app

REPO = Path(__file__).resolve().parents[3]


def make_config(**overrides) -> SynthConfig:
    values = {"seed": 0, "train": 600, "valid": 100, "test": 100}
    values.update(overrides)
    return SynthConfig(**values)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_default_command_is_byte_for_byte_reproducible(tmp_path):
    """Two processes with different hash seeds write identical trees."""
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        command = [sys.executable, "-m", "services.cli", "data", "synth", "--seed", "0"]
        subprocess.run(
            [*command, "--out", str(out)], cwd=REPO, env=env, check=True, capture_output=True
        )
        digests.append(tree_digest(out))
    assert digests[0] == digests[1]
    assert len(digests[0]) == 3 * 3 + 2  # 3 phases x 3 splits + card.json + card.md
    card = json.loads((tmp_path / "run1" / "card.json").read_text(encoding="utf-8"))
    assert [p["splits"]["train"]["count"] for p in card["phases"]] == [6000, 6000, 6000]


def test_seed_changes_the_corpus():
    a = generate_phase(make_config(seed=0), 0)["train"]
    b = generate_phase(make_config(seed=1), 0)["train"]
    assert [r["text"] for r in a] != [r["text"] for r in b]


def test_seed_examples_are_in_phase0_train_only():
    phase0 = generate_phase(make_config(), 0)
    train = {(r["text"], r["label"]) for r in phase0["train"]}
    assert set(SEED_EXAMPLES) <= train
    others = {r["text"] for s in ("valid", "test") for r in phase0[s]}
    assert not {text for text, _ in SEED_EXAMPLES} & others


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_splits_are_distinct_and_well_formed(phase):
    config = make_config()
    splits = generate_phase(config, phase)
    texts = [r["text"] for s in splits.values() for r in s]
    assert len(texts) == len(set(texts)), "a text appears in two places"
    ids = [r["id"] for s in splits.values() for r in s]
    assert len(ids) == len(set(ids))
    for split, records in splits.items():
        assert len(records) == getattr(config, split)
        for r in records:
            assert list(r)[:5] == ["id", "text", "label", "phase", "lang"]
            assert r["text"] and r["text"] == r["text"].strip()
            assert r["label"] in config.labels(phase) and r["phase"] == phase
            assert r["lang"] in ("zh", "en", "mix")
            if r.get("ambiguous"):
                assert r["label"] == resolve(r["label"], r["secondary"])
            if r.get("noisy_label"):
                assert r["clean_label"] != r["label"]
    assert not any(r.get("noisy_label") for r in splits["test"]), "test labels are clean"
    langs = Counter(r["lang"] for r in splits["train"])
    assert set(langs) == {"zh", "en", "mix"}


def test_label_noise_and_ambiguity_follow_the_config():
    train = generate_phase(make_config(train=3000, label_noise=0.1, ambiguous=0.2), 0)["train"]
    noisy = sum(1 for r in train if r.get("noisy_label")) / len(train)
    ambiguous = sum(1 for r in train if r.get("ambiguous")) / len(train)
    assert 0.07 < noisy < 0.13 and 0.16 < ambiguous < 0.24
    clean = generate_phase(make_config(label_noise=0.0, ambiguous=0.0, text_noise=0.0), 0)
    assert not any(r.get("noisy_label") or r.get("ambiguous") for r in clean["train"])


def test_drift_phases_shift_entities_mix_and_labels():
    config = make_config(train=2000)
    text = {p: " ".join(r["text"] for r in generate_phase(config, p)["train"]) for p in range(3)}
    # 1. new carriers and places only from their phase on
    for name in ("J&T", "极兔", "Chengdu", "成都"):
        assert name not in text[0] and name in text[1]
    for name in ("Maersk", "马士基", "Urumqi", "PO-2024-"):
        assert name not in text[1] and name in text[2]
    # 2. a shifted label mix: peak season (phase 1) brings more delays
    mix = {p: Counter(r["label"] for r in generate_phase(config, p)["train"]) for p in range(3)}
    assert mix[1]["延误"] > 1.3 * mix[0]["延误"]
    # 3. a new label in phase 2, unless switched off
    assert "拦截" not in mix[1] and mix[2]["拦截"] > 100
    assert "拦截" not in SynthConfig(new_label=False).labels(2)
    # 4. new phrasing: phase-2 templates are used in phase 2 only
    phase2_only = TEMPLATES["en"]["延误"][2][0].split("{")[0]  # "Port congestion: container "
    assert phase2_only not in text[1] and phase2_only in text[2]


def test_phase_3_is_generated_on_request_and_leaves_phases_0_to_2_unchanged():
    three, four = make_config(train=1500, phases=3), make_config(train=1500, phases=4)
    for phase in range(3):
        assert generate_phase(three, phase) == generate_phase(four, phase)
    with pytest.raises(ConfigError, match="phase must be in"):
        generate_phase(three, 3)
    records = generate_phase(four, 3)["train"]
    text = " ".join(r["text"] for r in records)
    for name in ("Amazon Shipping", "亚马逊物流", "Bangkok", "曼谷", "LS"):
        assert name in text
    phase3_only = TEMPLATES["en"]["退货"][3][0].split("{")[0]  # "Return rush after the sale: "
    assert phase3_only in text
    mix = Counter(r["label"] for r in records)
    assert mix.most_common(1)[0][0] == "退货"  # the post-sale wave of returns
    assert set(mix) == set(four.labels(2))  # no new label


@pytest.mark.parametrize("label", LOGISTICS_LABELS)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_enough_templates_per_label_and_language(label, lang):
    assert len(templates_for(label, lang, 2)[0]) >= 15


def test_every_template_renders_in_every_phase_it_exists():
    rng = random.Random(0)
    for lang, table in TEMPLATES.items():
        for label, by_phase in table.items():
            assert label in LOGISTICS_LABELS
            for since, group in by_phase.items():
                for template in group:
                    for phase in range(since, 4):
                        text = template.format_map(SlotFiller(rng, phase, lang))
                        assert "{" not in text and text.strip(), template


def test_template_slots_are_known():
    slots = {f[1] for table in TEMPLATES.values() for by_phase in table.values()
             for group in by_phase.values() for t in group
             for f in string.Formatter().parse(t) if f[1]}  # fmt: skip
    assert slots <= {n.removeprefix("_slot_") for n in dir(SlotFiller) if n.startswith("_slot_")}


def test_synth_examples_and_label_helpers():
    examples = synth_examples(make_config(), 2, "valid")
    assert len(examples) == 100 and examples[0].meta["phase"] == 2
    assert canonical_label("in_transit") == "运输中" == canonical_label("运输中")
    assert set(ENGLISH) == set(LOGISTICS_LABELS)
    with pytest.raises(DataError, match="in_transit"):
        canonical_label("shipped")
    with pytest.raises(ConfigError, match="split must be one of"):
        synth_examples(make_config(), 0, "dev")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"phases": 5}, "phases must be in"),
        ({"train": 1}, "seed examples"),
        ({"valid": -1}, "valid must be >= 0"),
        ({"label_noise": 1.5}, "label_noise must be in"),
    ],
)
def test_config_rejects_bad_values(overrides, message):
    with pytest.raises(ConfigError, match=message):
        make_config(**overrides)


def test_corpus_files_and_card_agree(tmp_path):
    config = make_config(train=300, valid=50, test=50, phases=2)
    card = write_corpus(config, tmp_path)
    assert json.loads((tmp_path / "card.json").read_text(encoding="utf-8")) == card
    assert "| 运输中 |" in (tmp_path / "card.md").read_text(encoding="utf-8")
    for phase in card["phases"]:
        for split, stats in phase["splits"].items():
            path = tmp_path / f"phase{phase['phase']}" / f"{split}.jsonl"
            examples = load_examples(path)
            assert stats["count"] == len(examples)
            assert stats["labels"] == dict(Counter(e.label for e in examples))
            assert sum(stats["labels"].values()) == len(examples)
            rel = path.relative_to(tmp_path).as_posix()
            assert card["files"][rel]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_synth_per_phase_and_card(tmp_path):
    runner = CliRunner()
    out = tmp_path / "synth"
    result = runner.invoke(build_app(), ["data", "synth", "--per-phase", "160", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(load_examples(out / "phase0" / "train.jsonl")) == 120
    assert len(load_examples(out / "phase2" / "test.jsonl")) == 20
    result = runner.invoke(build_app(), ["data", "card", str(out / "phase2" / "train.jsonl")])
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert card["count"] == 120 and "拦截" in card["labels"]


def test_cli_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(build_app(), ["data", "card", str(tmp_path / "x.txt")])
    assert result.exit_code == 1
    assert "unknown data format" in result.output


def template_pattern(template: str) -> re.Pattern[str]:
    parts = [re.escape(literal) + (".+?" if slot else "")
             for literal, slot, _, _ in string.Formatter().parse(template)]  # fmt: skip
    return re.compile("".join(parts))


def test_holdout_templates_keep_test_phrasing_out_of_train():
    config = make_config(
        phases=1, label_noise=0.0, ambiguous=0.0, text_noise=0.0, holdout_templates=0.3
    )
    seen, unseen = [], []
    for lang in ("zh", "en", "mix"):
        for label in config.labels(0):
            seen += templates_for(label, lang, 0, 0.3, "seen")[0]
            unseen += templates_for(label, lang, 0, 0.3, "unseen")[0]
    assert unseen and not set(seen) & set(unseen)
    seen_patterns = [template_pattern(t) for t in seen]
    unseen_patterns = [template_pattern(t) for t in unseen]
    splits = generate_phase(config, 0)
    for r in splits["train"][len(SEED_EXAMPLES) :]:
        assert any(p.fullmatch(r["text"]) for p in seen_patterns), r["text"]
    for r in splits["test"]:
        assert any(p.fullmatch(r["text"]) for p in unseen_patterns), r["text"]
