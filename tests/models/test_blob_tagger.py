"""The blob's optional tagging section (models/blob_tagger.py): round trip through the release
path, blobs without it, and every way a section can be partial or inconsistent."""

from __future__ import annotations

import contextlib
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.blob import BlobError, BlobInconsistentError, read_blob, restamp_blob, write_blob
from models.blob_tagger import TAGGER_TAGS, TaggerSectionError, names_table, read_names
from models.data.spans import ENTITY_TYPES
from models.intlstm import integer_logits
from models.inttagger import IntegerTagger, integer_tags, quantize_tagger, student_tagger
from models.quantize import quantize_student
from models.student import StudentConfig, TinyLSTM
from models.tagging import NUM_TAGS
from tests.models.test_blob import recrc

LABELS = ["a", "b", "c"]
SEQS = [[5, 9, 17, 3], [], [40], [7, 7, 7, 7, 7, 7, 2]]


def tiny_student(num_tags: int) -> TinyLSTM:
    torch.manual_seed(0)
    model = TinyLSTM(StudentConfig(num_labels=3, vocab_size=64, embed_dim=8, hidden=16,
                                   max_len=12, num_tags=num_tags))  # fmt: skip
    if num_tags:
        with torch.no_grad():
            model.crf.transitions.normal_()
            model.crf.start.normal_()
            model.crf.end.normal_()
    return model.eval()


@pytest.fixture(scope="module")
def tagging():
    return tiny_student(NUM_TAGS)


@pytest.fixture(scope="module")
def blob(tagging) -> bytes:
    return write_blob(
        quantize_student(tagging, LABELS), model_version=4, tagger=student_tagger(tagging)
    )


def entry_offset(blob: bytes, tag: bytes) -> int:
    """Byte offset of ``tag``'s directory entry."""
    dir_offset, count = struct.unpack_from("<II", blob, 40)
    for k in range(count):
        at = dir_offset + 24 * k
        if blob[at : at + 4] == tag:
            return at
    raise AssertionError(f"{tag!r} not in the directory")


def tensor_offset(blob: bytes, tag: bytes) -> int:
    return struct.unpack_from("<I", blob, entry_offset(blob, tag) + 16)[0]


def test_the_blob_carries_the_tagger_bit_for_bit(tagging, blob):
    parsed = read_blob(blob)
    want = quantize_tagger(tagging)
    assert parsed.tagger is not None and parsed.model_version == 4
    for name in ("w", "b", "m", "n", "transitions", "start", "end"):
        assert np.array_equal(getattr(parsed.tagger, name), getattr(want, name)), name
    assert parsed.tagger.entity_types == ENTITY_TYPES
    integer = quantize_student(tagging, LABELS)
    assert integer_tags(parsed.model, parsed.tagger, SEQS) == integer_tags(integer, want, SEQS)
    restamped = read_blob(restamp_blob(blob, 9)).tagger
    assert restamped is not None and np.array_equal(restamped.transitions, want.transitions)


def test_the_section_adds_only_optional_tensors(tagging, blob):
    """Same classifier, same self-test: a reader that skips the section sees the same model."""
    integer = quantize_student(tagging, LABELS)
    bare = write_blob(integer, model_version=4)
    with_tags, without = read_blob(blob), read_blob(bare)
    assert without.tagger is None
    assert with_tags.selftest == without.selftest
    assert np.array_equal(integer_logits(with_tags.model, SEQS), integer_logits(integer, SEQS))
    k, two_h = NUM_TAGS, 2 * integer.hidden
    names = sum(1 + len(t) for t in ENTITY_TYPES)
    payload = k * two_h + 4 * (5 * k + k * k) + names
    growth = len(blob) - len(bare)
    assert payload + 24 * len(TAGGER_TAGS) <= growth <= payload + 24 * len(TAGGER_TAGS) + 3 * 8


def test_a_student_without_a_head_has_no_section():
    model = tiny_student(0)
    assert student_tagger(model) is None
    blob = write_blob(quantize_student(model, LABELS), model_version=1, tagger=None)
    assert read_blob(blob).tagger is None


@pytest.mark.parametrize("tag", TAGGER_TAGS)
def test_a_partial_section_is_refused(blob, tag):
    damaged = bytearray(blob)
    at = entry_offset(blob, tag)
    damaged[at : at + 4] = b"XXXX"  # an unknown tag: skipped, so the section lacks ``tag``
    with pytest.raises(BlobInconsistentError, match=rf"partial tagging section.*{tag.decode()}"):
        read_blob(recrc(damaged))


def test_a_repeated_section_tag_is_refused(blob):
    damaged = bytearray(blob)
    at = entry_offset(blob, b"TGM ")
    damaged[at : at + 4] = b"TGN "
    with pytest.raises(BlobInconsistentError, match="appears twice"):
        read_blob(recrc(damaged))


@pytest.mark.parametrize(
    ("tag", "index", "value", "why"),
    [
        (b"TGTR", 0, 2**20 + 1, r"transitions: \|value\| > 2\^20"),
        (b"TGEN", 3, -(2**20) - 1, r"end: \|value\| > 2\^20"),
        (b"TGM ", 1, 2**30 - 1, "multipliers"),
        (b"TGN ", 0, 63, "shifts"),
    ],
)
def test_section_values_out_of_range_are_refused(blob, tag, index, value, why):
    damaged = bytearray(blob)
    struct.pack_into("<i", damaged, tensor_offset(blob, tag) + 4 * index, value)
    with pytest.raises(BlobInconsistentError, match=why):
        read_blob(recrc(damaged))


def test_names_that_do_not_match_the_tag_count_or_the_alphabet_are_refused(blob):
    names_at = tensor_offset(blob, b"TGNM")
    lower = bytearray(blob)
    lower[names_at + 1] = ord("i")  # "ID" -> "iD"
    with pytest.raises(BlobInconsistentError, match="malformed"):
        read_blob(recrc(lower))
    short = bytearray(blob)
    struct.pack_into("<I", short, entry_offset(blob, b"TGNM") + 8, 3)  # dim0: only "ID" left
    struct.pack_into("<I", short, entry_offset(blob, b"TGNM") + 20, 3)  # nbytes
    with pytest.raises(BlobInconsistentError, match="11 tags for 1 entity types"):
        read_blob(recrc(short))


def test_names_table_round_trip_and_refusals():
    assert read_names(names_table(ENTITY_TYPES)) == ENTITY_TYPES
    for bad in [("id",), ("A" * 17,), ("ID\n",), ("",)]:
        with pytest.raises(TaggerSectionError):
            names_table(bad)
    for raw in [b"", b"\x02ID\x02ID", b"\x03ID", b"\x00"]:
        with pytest.raises(TaggerSectionError):
            read_names(np.frombuffer(raw, dtype=np.int8))


def test_the_writer_refuses_a_tagger_that_does_not_fit(tagging):
    integer = quantize_student(tagging, LABELS)
    tagger = quantize_tagger(tagging)
    narrow = IntegerTagger(**{**tagger.__dict__, "w": tagger.w[:, :-1].copy()})
    with pytest.raises(BlobInconsistentError, match="tagger width"):
        write_blob(integer, model_version=1, tagger=narrow)
    renamed = IntegerTagger(**{**tagger.__dict__, "entity_types": ("id", "B", "C", "D", "E")})
    with pytest.raises(BlobInconsistentError, match="entity type 'id'"):
        write_blob(integer, model_version=1, tagger=renamed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_section_bytes_raise_only_blob_errors(blob, data):  # type: ignore[no-untyped-def]
    """Any bytes of the section's tensors or directory entries, CRC fixed: a parse or a
    BlobError, nothing else."""
    spots = [tensor_offset(blob, t) for t in TAGGER_TAGS] + [
        entry_offset(blob, t) + k for t in TAGGER_TAGS for k in (4, 8, 12, 16, 20)
    ]
    damaged = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.sampled_from(spots)) + data.draw(st.integers(0, 3))
        damaged[at] = data.draw(st.integers(0, 255))
    with contextlib.suppress(BlobError):
        read_blob(recrc(damaged))


def test_the_default_student_with_its_tagger_fits_one_ota_slot():
    """The numbers docs/model-blob.md states: 3 740 bytes more, inside a 384 KiB slot."""
    torch.manual_seed(0)
    model = TinyLSTM(StudentConfig(num_labels=8, num_tags=NUM_TAGS)).eval()
    integer = quantize_student(model, [f"label-{k}" for k in range(8)])
    bare = write_blob(integer, model_version=1)
    tagged = write_blob(integer, model_version=1, tagger=student_tagger(model))
    assert len(tagged) - len(bare) == 3_740
    assert len(tagged) <= 384 * 1024 - 16 * 1024  # with room to spare
