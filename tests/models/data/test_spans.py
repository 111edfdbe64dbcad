"""Gold entity spans of the synthetic corpus, carried through noise, and BIO tags."""

from __future__ import annotations

import hashlib
import itertools
import random
import re

import pytest

from models.data import load_examples
from models.data.entities import CARRIERS, CITIES, PORTS, SlotFiller
from models.data.spans import (
    ENTITY_TYPES,
    TAGS,
    Entity,
    TrackedText,
    bio_tags,
    decode_tags,
    entities_from_json,
    example_entities,
    render_template,
    snap_to_tokens,
    tags_to_entities,
    token_tags,
)
from models.data.synth import SynthConfig, generate_phase, synth_examples, write_corpus
from models.errors import DataError
from models.tokenizer import Tokenizer

ID_PATTERN = re.compile(r"^(DH\d{8}(\d{4})?|PO-\d{4}-\d{6}|[A-Z0-9]{2,4}\d{7,16}|\d{10})$")


def tracked(text: str, *spans: tuple[int, int, str]) -> TrackedText:
    return TrackedText(text, [Entity(s, e, t) for s, e, t in spans])


def surfaces(msg: TrackedText) -> list[str]:
    return [msg.text[e.start : e.end] for e in msg.entities]


def test_tag_set_is_o_then_b_i_per_type():
    assert TAGS[0] == "O" and len(TAGS) == 1 + 2 * len(ENTITY_TYPES)
    assert TAGS[1:5] == ("B-ID", "I-ID", "B-CARRIER", "I-CARRIER")


@pytest.mark.parametrize(
    ("edit", "text", "expected"),
    [
        (lambda m: m.replace(0, 0, "📦"), "📦at Wuhan hub", ["Wuhan"]),  # before: shifts
        (lambda m: m.replace(3, 3, " "), "at  Wuhan hub", ["Wuhan"]),  # at the start: outside
        (lambda m: m.replace(8, 8, " "), "at Wuhan  hub", ["Wuhan"]),  # at the end: outside
        (lambda m: m.replace(5, 5, "\t"), "at Wu\than hub", ["Wu\than"]),  # inside: grows
        (lambda m: m.replace(4, 5, ""), "at Whan hub", ["Whan"]),  # drop inside
        (lambda m: m.replace(3, 4, "WW"), "at WWuhan hub", ["WWuhan"]),  # double the first
        (lambda m: m.replace(7, 9, " n"), "at Wuha nhub", ["Wuha "]),  # swap keeps offsets
        (lambda m: m.truncate(6), "at Wuh", ["Wuh"]),  # clipped
        (lambda m: m.truncate(3), "at ", []),  # all gone: dropped
    ],
)
def test_spans_follow_edits(edit, text, expected):
    msg = tracked("at Wuhan hub", (3, 8, "PLACE"))
    edit(msg)
    assert msg.text == text and surfaces(msg) == expected


def test_casing_that_changes_lengths_and_strip():
    msg = tracked("ß 上海 ", (2, 4, "PLACE"))
    msg.map_text(str.upper)  # ß -> SS
    assert msg.text == "SS 上海 " and surfaces(msg) == ["上海"]
    msg.replace(0, 0, "  ")
    msg.strip()
    assert msg.text == "SS 上海" and surfaces(msg) == ["上海"]


def test_render_template_matches_format_map_and_records_slots():
    template = "【{carrier}】快件{waybill}已到达{city}转运中心，{qty}件，电话{phone}"
    a = render_template(template, SlotFiller(random.Random(7), 1, "zh"))
    b = template.format_map(SlotFiller(random.Random(7), 1, "zh"))
    assert a.text == b
    assert [e.type for e in a.entities] == ["CARRIER", "ID", "PLACE", "QTY"]  # phone: no type
    carrier, waybill, city, qty = surfaces(a)
    assert carrier in {c.zh for c in CARRIERS} and city in {c[0] for c in CITIES}
    assert ID_PATTERN.match(waybill) and qty.isdigit()


def test_span_tracking_leaves_the_corpus_texts_unchanged():
    """The texts of this config, hashed before entity spans existed."""
    h = hashlib.sha256()
    config = SynthConfig(seed=0, train=300, valid=50, test=50)
    for phase in range(3):
        for records in generate_phase(config, phase).values():
            for r in records:
                h.update(r["text"].encode() + b"\n")
    assert h.hexdigest() == "08f9ac0900cb2bdcbd17d5b65dcd0d113d2189600c0e3e9c1c1cf9b34aee52d0"


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_every_record_has_valid_spans(phase):
    counts: dict[tuple[str, str], int] = {}
    for r in generate_phase(SynthConfig(seed=1, train=600, valid=50, test=50), phase)["train"]:
        entities = entities_from_json(r["entities"], r["text"])
        for prev, cur in itertools.pairwise(entities):
            assert prev.end <= cur.start, r  # sorted, no overlap
        for e in entities:
            surface = r["text"][e.start : e.end]
            assert surface.strip() == surface, (r["text"], e)  # noise never adds edge spaces
            counts[(r["lang"], e.type)] = counts.get((r["lang"], e.type), 0) + 1
    for lang in ("zh", "en", "mix"):
        for kind in ENTITY_TYPES:
            assert counts.get((lang, kind), 0) >= 1, (lang, kind, counts)


def test_clean_spans_are_exactly_the_slot_values_and_drift_brings_new_ones():
    config = SynthConfig(seed=2, train=1500, valid=10, test=10, text_noise=0.0, ambiguous=0.0)
    carriers = {c.zh for c in CARRIERS} | {c.en for c in CARRIERS}
    new_in_2 = {c.zh for c in CARRIERS if c.phase == 2} | {c.en for c in CARRIERS if c.phase == 2}
    new_in_2 |= {p for c in CITIES if c[2] == 2 for p in c[:2]}
    seen_new: set[str] = set()
    for phase in (0, 2):
        for r in generate_phase(config, phase)["train"]:
            for e in entities_from_json(r["entities"], r["text"]):
                surface = r["text"][e.start : e.end]
                if e.type == "ID":
                    assert ID_PATTERN.match(surface), surface
                elif e.type == "CARRIER":
                    assert surface in carriers
                elif e.type == "QTY":
                    assert surface.isdigit()
                elif e.type == "PLACE" and phase == 0:
                    assert not any(p in surface for p in new_in_2)
                if phase == 2 and any(p in surface for p in new_in_2):
                    seen_new.add(e.type)
    assert {"CARRIER", "PLACE"} <= seen_new
    assert {p for c in PORTS for p in c[:2]}  # ports are places too (pool exists)


def test_seed_examples_and_files_carry_entities(tmp_path):
    first = synth_examples(SynthConfig(train=10, valid=2, test=2, phases=1), 0, "train")[:2]
    assert [(e.type, first[0].text[e.start : e.end]) for e in example_entities(first[0])] == [
        ("ID", "DH20231125")
    ]
    assert [first[1].text[e.start : e.end] for e in example_entities(first[1])] == ["上海"]
    card = write_corpus(SynthConfig(train=200, valid=20, test=20, phases=1), tmp_path)
    loaded = load_examples(tmp_path / "phase0" / "train.jsonl")
    assert example_entities(loaded[0]) == example_entities(first[0])
    assert card["phases"][0]["splits"]["train"]["entities"]["ID"] > 50


@pytest.mark.parametrize(
    "raw",
    [{"type": "ID"}, [{"type": "ID", "start": 0}], [{"type": "SKU", "start": 0, "end": 1}],
     [{"type": "ID", "start": 3, "end": 2}], [{"type": "ID", "start": 0, "end": 99}]],
)  # fmt: skip
def test_bad_entity_fields_are_refused(raw):
    with pytest.raises(DataError):
        entities_from_json(raw, "short text")


def test_bio_tags_through_the_student_tokenizer():
    text = "运单SF1234567890已到达上海, 3 cartons via SF Express"
    entities = [Entity(2, 14, "ID"), Entity(17, 19, "PLACE"), Entity(21, 22, "QTY"),
                Entity(35, 45, "CARRIER")]  # fmt: skip
    assert [text[e.start : e.end] for e in entities] == ["SF1234567890", "上海", "3", "SF Express"]
    tags = bio_tags(Tokenizer(), text, entities)
    names = [TAGS[t] for t in tags]
    # 运 单 sf #10 已 到 达 上 海 , #1 cartons via sf express
    assert names == ["O", "O", "B-ID", "I-ID", "O", "O", "O", "B-PLACE", "I-PLACE", "O",
                     "B-QTY", "O", "O", "B-CARRIER", "I-CARRIER"]  # fmt: skip
    spans = [(s, e) for _, s, e in Tokenizer().encode_with_spans(text)]
    assert tags_to_entities(tags, spans) == entities == snap_to_tokens(entities, spans)


def test_a_token_straddling_an_entity_edge_takes_its_tag():
    # "rPO-..." after a typo swap: the letter run "rpo" overlaps the entity, so it is B-ID.
    spans = [(0, 4), (4, 7), (7, 8), (8, 12)]
    assert token_tags(spans, [Entity(5, 12, "ID")]) == [0, 1, 2, 2]
    assert snap_to_tokens([Entity(5, 12, "ID")], spans) == [Entity(4, 12, "ID")]


def test_decode_reads_stray_inside_tags_as_starts():
    b_id, i_id, b_pl, i_pl = 1, 2, 5, 6
    assert decode_tags([0, b_id, i_id, 0, i_pl, i_pl, b_pl, i_id]) == [
        (1, 3, "ID"), (4, 6, "PLACE"), (6, 7, "PLACE"), (7, 8, "ID")
    ]  # fmt: skip
    assert decode_tags([]) == [] and decode_tags([0, 0]) == []
