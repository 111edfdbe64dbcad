"""Transfer-set augmentation: masking, synonyms, n-grams, determinism, and the CLI."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from models.data import Example, write_jsonl
from models.data.augment import (
    MASK,
    SYNONYM_GROUPS,
    AugmentConfig,
    Augmenter,
    augment_corpus,
    augment_records,
    synonym_table,
)
from models.data.loaders import example_record
from models.errors import ConfigError
from models.tokenizer import Tokenizer
from services.cli import build_app

SEED_TEXTS = ("物流订单号DH20231125状态更新", "上海仓库存预警通知")


def make_examples(texts=SEED_TEXTS) -> list[Example]:
    return [Example(text, "运输中", id=f"e{i}") for i, text in enumerate(texts)]


def only(**probabilities) -> Augmenter:
    values = {"p_mask": 0.0, "p_synonym": 0.0, "p_swap": 0.0, "p_ngram": 0.0}
    values.update(probabilities)
    return Augmenter(AugmentConfig(**values))


def test_units_follow_tokens_with_synonym_phrases_whole():
    units = only().units("物流订单号DH20231125状态更新")
    assert [u for _, u, _ in units] == ["物流", "订单号", "DH", "20231125", "状态", "更新"]
    units = only().units("Your parcel, tracking number SF1")
    assert [u for _, u, _ in units] == ["Your", "parcel", ",", "tracking number", "SF", "1"]
    assert [s for _, _, s in units] == [False, True, False, True, False, False]
    assert only().units("restock")[0][2] is False  # English phrases match whole words only


def test_synonym_replacement_uses_the_seed_pairs():
    text = only(p_synonym=1.0).rewrite("物流订单号DH20231125状态更新", random.Random(0))
    assert text.startswith("货运") and "情况" in text and "DH20231125" in text


def test_masking_replaces_whole_units():
    tok = Tokenizer()
    assert only(p_mask=1.0).rewrite("上海仓 SF12", random.Random(0)) == MASK * 3 + " " + MASK * 2
    assert tok.tokens(MASK) == [MASK.encode()]


def test_ngram_sampling_keeps_a_contiguous_piece():
    units = [u for _, u, _ in only().units("a b c d e f g h")]
    rng = random.Random(1)
    for _ in range(50):
        piece = only(p_ngram=1.0).rewrite("a b c d e f g h", rng).split()
        assert 1 <= len(piece) <= 5
        start = units.index(piece[0])
        assert units[start : start + len(piece)] == piece


def test_augment_corpus_is_seeded_distinct_and_unlabeled():
    examples = make_examples()
    first = augment_records(examples, 5, seed=3)
    assert first == augment_records(examples, 5, seed=3)
    assert first != augment_records(examples, 5, seed=4)
    texts = [r["text"] for r in first]
    assert texts == augment_corpus(examples, 5, seed=3)
    assert len(texts) == len(set(texts)) and not set(texts) & set(SEED_TEXTS)
    assert {r["source_id"] for r in first} == {"e0", "e1"}
    assert all(set(r) == {"id", "text", "source_id", "index"} for r in first)
    assert all(r["id"].endswith(f"-aug{r['index']}") for r in first)


def test_synonym_table_is_symmetric_and_bilingual():
    table = synonym_table()
    assert table["物流"] == ("货运",) and table["货运"] == ("物流",)
    assert "package" in table["parcel"]
    assert sum(1 for g in SYNONYM_GROUPS if g[0].isascii()) >= 15
    assert sum(1 for g in SYNONYM_GROUPS if not g[0].isascii()) >= 15


@pytest.mark.parametrize(
    "kwargs", [{"p_mask": -0.1}, {"p_ngram": 2.0}, {"p_mask": 0.6, "p_synonym": 0.6}]
)
def test_config_rejects_bad_probabilities(kwargs):
    with pytest.raises(ConfigError):
        AugmentConfig(**kwargs)


def test_cli_writes_transfer_set(tmp_path):
    data = tmp_path / "seed.jsonl"
    write_jsonl(data, [example_record(e) for e in make_examples()])
    out = tmp_path / "transfer.jsonl"
    args = ["data", "augment", str(data), "--out", str(out), "--per-example", "3"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 6 and all("label" not in r for r in records)


def test_context_swap_draws_a_unit_seen_between_the_same_neighbours():
    corpus = [
        Example("please transfer money to my account", "transfer"),
        Example("please send money to my account", "transfer"),
        Example("please wire money to my account", "transfer"),
        Example("what is my card pin", "pin"),
    ]
    augmenter = only(p_swap=1.0)
    augmenter.index_corpus(corpus)
    rng = random.Random(0)
    seen = set()
    for _ in range(40):
        words = augmenter.rewrite("please send money to my account", rng, "transfer").split()
        assert len(words) == 6  # a swap replaces one unit by one unit
        seen.add(words[1])
    assert {"transfer", "wire"} <= seen  # the verbs between "please" and "money"
    assert "pin" not in seen and "what" not in seen


def test_context_swap_needs_a_corpus_and_is_off_without_one():
    assert only(p_swap=1.0).rewrite("please send money", random.Random(0)) == "please send money"


def test_chinese_units_swap_with_characters_of_the_same_context():
    corpus = [Example(t, "weather") for t in ("今天北京天气", "今天上海天气", "今天深圳天气")]
    augmenter = only(p_swap=1.0)
    augmenter.index_corpus(corpus)
    out = augmenter.rewrite("今天北京天气", random.Random(1), "weather")
    assert len(out) == 6 and out != "今天北京天气"
