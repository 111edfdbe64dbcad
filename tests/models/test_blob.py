"""Model blob writer and reader (docs/model-blob.md, format 3): round trip (the spec v1
embedding and last pooling, the hash embedding and mean+max pooling), the device layout of the
LSTM tensors, one error class per fault (versions by name), and fuzzing (mutated or truncated
blobs raise BlobError and nothing else)."""

from __future__ import annotations

import contextlib
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.blob import (
    DIR_ENTRY_SIZE,
    HEADER_SIZE,
    BlobCRCError,
    BlobError,
    BlobInconsistentError,
    BlobMagicError,
    BlobOversizedError,
    BlobTokenizerVersionError,
    BlobTruncatedError,
    BlobVersionError,
    check_versions,
    read_blob,
    restamp_blob,
    write_blob,
)
from models.blob_layout import (
    block_positions,
    gate_order,
    pack_direction,
    pack_weights,
    unpack_weights,
)
from models.errors import ModelsError
from models.intlstm import IntegerStudent, integer_logits
from models.quantize import quantize_arrays
from tests.models.test_intlstm import random_float_state


def small_model(labels: tuple[str, ...] = ("运输中", "紧急", "ok")) -> IntegerStudent:
    return quantize_arrays(random_float_state(32, 4, 3, len(labels), seed=2), labels, max_len=12)


def v2_model(hashes: int = 2, buckets: int = 5, pooling: str = "meanmax") -> IntegerStudent:
    """A small model with the hash embedding (K rows, P importance buckets) and a pooling."""
    width = (4 if pooling == "meanmax" else 2) * 3
    state = random_float_state(32, 4, 3, 3, seed=2, pooled=width)
    if buckets:
        state["importance.weight"] = np.random.default_rng(5).normal(1.0, 0.5, (buckets, hashes))
    return quantize_arrays(state, ("a", "b", "c"), max_len=12, hashes=hashes, pooling=pooling)


def default_model() -> IntegerStudent:
    labels = [f"label-{k}" for k in range(8)]
    return quantize_arrays(random_float_state(2048, 64, 128, 8, seed=4), labels, max_len=64)


def recrc(blob: bytearray | bytes) -> bytes:
    """Fix the CRC after editing the body so that deeper validation runs."""
    body = bytes(blob[:-4])
    return body + struct.pack("<I", zlib.crc32(body))


def patch(blob: bytes, offset: int, fmt: str, value: object) -> bytes:
    out = bytearray(blob)
    struct.pack_into(fmt, out, offset, value)
    return recrc(out)


def entry_offset(blob: bytes, tag: bytes) -> int:
    dir_offset, count = struct.unpack_from("<II", blob, 40)
    for k in range(count):
        pos = dir_offset + DIR_ENTRY_SIZE * k
        if blob[pos : pos + 4] == tag:
            return pos
    raise AssertionError(f"no {tag!r}")


def data_offset(blob: bytes, tag: bytes) -> int:
    return struct.unpack_from("<I", blob, entry_offset(blob, tag) + 16)[0]


def test_round_trip_keeps_every_tensor_and_the_selftest() -> None:
    model = default_model()
    blob = write_blob(model, model_version=7)
    assert len(blob) % 4 == 0 and 330_000 < len(blob) < 380_000
    parsed = read_blob(blob)
    assert parsed.model_version == 7 and parsed.tokenizer_version == 1
    assert parsed.model.labels == model.labels and parsed.model.max_len == 64
    for name in ("emb", "head_w", "head_b", "head_m", "head_n"):
        assert np.array_equal(getattr(parsed.model, name), getattr(model, name)), name
    for d_in, d_out in ((model.fwd, parsed.model.fwd), (model.bwd, parsed.model.bwd)):
        for name in ("wx", "wh", "b", "mx", "nx", "mh", "nh"):
            assert np.array_equal(getattr(d_in, name), getattr(d_out, name)), name
    assert [len(c.ids) for c in parsed.selftest] == [0, 1, 7, 64]
    for case in parsed.selftest:  # spec v1 ids: id i is the row of hash i - 2
        hashes = [i - 2 for i in case.ids]
        assert list(integer_logits(parsed.model, [hashes])[0]) == list(case.logits)
        assert case.label == int(np.argmax(case.logits))


def test_header_fields_follow_the_spec() -> None:
    blob = write_blob(small_model(), model_version=3, selftest=[[2, 3]])
    magic, fv, hs, mv, total = struct.unpack_from("<4sHHII", blob, 0)
    assert (magic, fv, hs, mv, total) == (b"TLSM", 3, 64, 3, len(blob))
    assert struct.unpack_from("<HHHHHBB", blob, 16) == (32, 12, 4, 3, 3, 0, 1)
    labels_offset, labels_size, dir_offset, count, frac = struct.unpack_from("<IIIIi", blob, 32)
    assert labels_offset == 64 and dir_offset == 64 + labels_size and labels_size % 4 == 0
    assert count == 12 and frac == 10
    assert struct.unpack_from("<BBHii", blob, 52) == (1, 0, 0, 0, 0)  # K = 1, P = 0
    tags = [blob[dir_offset + 24 * k : dir_offset + 24 * k + 4] for k in range(count)]
    assert tags[:4] == [b"EMB ", b"FWX ", b"FWH ", b"FRQ "] and tags[-1] == b"STST"
    assert struct.unpack_from("<I", blob, len(blob) - 4)[0] == zlib.crc32(blob[:-4])


def test_no_selftest_when_asked_for_none() -> None:
    parsed = read_blob(write_blob(small_model(), 1, selftest=[]))
    assert parsed.selftest == ()


def test_errors_share_the_models_root() -> None:
    assert issubclass(BlobError, ModelsError)
    kinds = {BlobTruncatedError, BlobOversizedError, BlobMagicError, BlobVersionError}
    kinds |= {BlobCRCError, BlobInconsistentError, BlobTokenizerVersionError}
    assert all(issubclass(k, BlobError) for k in kinds) and len(kinds) == 7


def test_each_fault_has_its_own_error() -> None:
    blob = write_blob(small_model(), 1)
    with pytest.raises(BlobTruncatedError):
        read_blob(blob[:40])
    with pytest.raises(BlobTruncatedError):
        read_blob(blob[:-1])
    with pytest.raises(BlobOversizedError):
        read_blob(blob + b"\x00")
    with pytest.raises(BlobMagicError):
        read_blob(b"XLSM" + blob[4:])
    for version in (1, 2, 4):  # earlier layouts are refused, never misread
        with pytest.raises(BlobVersionError, match=f"format version {version}"):
            read_blob(patch(blob, 4, "<H", version))
    with pytest.raises(BlobTokenizerVersionError, match="tokenizer version 3"):
        read_blob(patch(blob, 27, "<B", 3))
    flipped = bytearray(blob)
    flipped[HEADER_SIZE + 5] ^= 0x40
    with pytest.raises(BlobCRCError):
        read_blob(bytes(flipped))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda b: patch(b, 22, "<H", 4), id="hidden-vs-shapes"),
        pytest.param(lambda b: patch(b, 24, "<H", 1), id="one-label"),
        pytest.param(lambda b: patch(b, 26, "<B", 1), id="pooling-vs-head"),
        pytest.param(lambda b: patch(b, 26, "<B", 2), id="pooling-2"),
        pytest.param(lambda b: patch(b, 27, "<B", 2), id="tokenizer-2-with-K1-P0"),
        pytest.param(lambda b: patch(b, 52, "<B", 2), id="tokenizer-1-with-K2"),
        pytest.param(lambda b: patch(b, 53, "<B", 1), id="byte-53"),
        pytest.param(lambda b: patch(b, 56, "<i", 1 << 30), id="tokenizer-1-with-multiplier"),
        pytest.param(lambda b: patch(b, 8, "<I", 0), id="model-version-0"),
        pytest.param(lambda b: patch(b, 48, "<i", 8), id="frac-bits"),
        pytest.param(lambda b: patch(b, 44, "<I", 10_000), id="directory-outside"),
        pytest.param(lambda b: patch(b, 65, "<B", 0xFF), id="label-utf8"),
        pytest.param(lambda b: patch(b, entry_offset(b, b"FRQ "), "<4s", b"XXXX"), id="missing"),
        pytest.param(lambda b: patch(b, entry_offset(b, b"BRQ ") + 4, "<B", 1), id="dtype"),
        pytest.param(lambda b: patch(b, entry_offset(b, b"HB  ") + 16, "<I", 2), id="overlap"),
        pytest.param(lambda b: patch(b, entry_offset(b, b"EMB ") + 16, "<I", len(b)), id="outside"),
        pytest.param(
            lambda b: patch(
                b, entry_offset(b, b"FWX ") + 16, "<I", struct.unpack_from("<I", b, 40)[0] + 1
            ),
            id="misaligned",
        ),
        pytest.param(lambda b: patch(b, data_offset(b, b"HN  "), "<i", 0), id="shift-0"),
        pytest.param(lambda b: patch(b, data_offset(b, b"FRQ ") + 16, "<i", 5), id="mult-low"),
        pytest.param(lambda b: patch(b, data_offset(b, b"BRQ ") + 32 + 28, "<i", 31), id="shift"),
        pytest.param(lambda b: patch(b, data_offset(b, b"BRQ ") + 8, "<i", 1 << 20), id="bias"),
        pytest.param(lambda b: patch(b, data_offset(b, b"FRQ ") + 20, "<i", 1), id="offset-h"),
        pytest.param(lambda b: patch(b, data_offset(b, b"FWH ") + 2, "<H", 0x7FFF), id="w128"),
        pytest.param(lambda b: patch(b, data_offset(b, b"BWX "), "<H", 0x0080), id="w-128"),
    ],
)
def test_inconsistent_blobs_are_refused(edit) -> None:  # type: ignore[no-untyped-def]
    blob = write_blob(small_model(), 1)
    with pytest.raises(BlobInconsistentError):
        read_blob(edit(blob))


def test_check_versions_decides_on_the_first_bytes() -> None:
    blob = write_blob(small_model(), 1)
    check_versions(blob[:28])
    check_versions(blob[:3])  # too short to decide anything
    with pytest.raises(BlobMagicError):
        check_versions(b"XLSM")
    with pytest.raises(BlobVersionError):
        check_versions(patch(blob, 4, "<H", 2)[:6])
    with pytest.raises(BlobTokenizerVersionError):
        check_versions(patch(blob, 27, "<B", 7)[:28])


@pytest.mark.parametrize("cols", [7, 8, 64, 21])
def test_layout_round_trips_and_keeps_gate_units_together(cols: int) -> None:
    rng = np.random.default_rng(cols)
    hidden = 5
    w = rng.integers(-127, 128, (4 * hidden, cols)).astype(np.int8)
    w[0, :] = -127  # extremes pack without overflow
    w[1, :] = 127
    order = gate_order(hidden)
    assert order[:4].tolist() == [0, hidden, 2 * hidden, 3 * hidden]  # i, f, g, o of unit 0
    assert sorted(order.tolist()) == list(range(4 * hidden))
    packed = pack_weights(w)
    values = packed.reshape(-1).view("<i2").astype(np.int64)
    pairs = 256 * w[1::2].astype(np.int64) + w[0::2]  # [2H, cols]
    assert np.array_equal(values[block_positions(4 * hidden, cols)], pairs)
    # block layout: quad 0 holds pair 0's first 8 (or fewer) columns, then pair 1's
    width = min(8, cols)
    assert values[:width].tolist() == pairs[0, :width].tolist()
    assert values[width : 2 * width].tolist() == pairs[1, :width].tolist()
    assert np.array_equal(unpack_weights(packed), w)


def test_weights_of_128_and_bad_records_are_refused() -> None:
    bad = small_model()
    bad.fwd.wh[0, 0] = -128
    with pytest.raises(BlobInconsistentError, match="127"):
        write_blob(bad, 1)
    d = small_model().fwd
    _wx, _wh, rq = pack_direction(d.wx, d.wh, d.b, d.mx, d.nx, d.mh, d.nh)
    assert rq.shape == (len(d.b), 8)
    order = gate_order(d.wh.shape[1])

    def offset(lo: int, hi: int) -> np.ndarray:
        return (rq[:, hi].astype(np.int64) << 32) | (rq[:, lo].astype(np.int64) & 0xFFFFFFFF)

    nx, nh = d.nx[order].astype(np.int64), d.nh[order].astype(np.int64)
    bias = d.b[order].astype(np.int64) * d.mx[order]
    assert np.array_equal(offset(1, 2), bias + (1 << (nx - 1)))
    assert np.array_equal(offset(5, 6), 1 << (nh - 1))
    assert np.array_equal(rq[:, 3], nx - 32) and np.array_equal(rq[:, 7], nh - 32)


def test_unknown_optional_tensors_are_skipped() -> None:
    blob = write_blob(small_model(), 1)
    renamed = patch(blob, entry_offset(blob, b"STST"), "<4s", b"ZZZZ")
    assert read_blob(renamed).selftest == ()


def test_writer_refuses_what_the_reader_would() -> None:
    with pytest.raises(BlobInconsistentError):
        write_blob(small_model(), 0)
    with pytest.raises(BlobInconsistentError):
        write_blob(small_model(("a", "b", "b")), 1)
    with pytest.raises(BlobInconsistentError):
        write_blob(small_model(("a", "b", "x" * 65)), 1)


@pytest.mark.parametrize(
    ("hashes", "buckets", "pooling"),
    [(2, 5, "meanmax"), (3, 0, "last"), (1, 4, "last"), (1, 0, "meanmax"), (4, 1, "meanmax")],
)
def test_hash_embedding_and_meanmax_round_trip(hashes: int, buckets: int, pooling: str) -> None:
    """Tokenizer version 2 (K, P, the importance table, the embedding multiplier in the
    header) and pooling mode 1 come back as written; the self-test records hold key hashes."""
    model = v2_model(hashes, buckets, pooling)
    blob = write_blob(model, 4)
    parsed = read_blob(blob)
    v2 = (hashes, buckets) != (1, 0)
    assert parsed.tokenizer_version == (2 if v2 else 1) and blob[27] == parsed.tokenizer_version
    assert blob[26] == (1 if pooling == "meanmax" else 0)
    m = parsed.model
    assert (m.pooling, m.hashes, m.buckets) == (model.pooling, hashes, buckets)
    assert (m.emb_m, m.emb_n) == ((model.emb_m, model.emb_n) if v2 else (0, 0))
    if buckets:
        assert m.importance is not None and model.importance is not None
        assert np.array_equal(m.importance, model.importance)
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 2**32, size=n).tolist() for n in (0, 1, 5, 12)]
    assert np.array_equal(integer_logits(m, seqs), integer_logits(model, seqs))
    for case in parsed.selftest:
        if v2:
            assert case.ids == case.hashes and max(case.ids, default=0) < 2**32
        assert list(integer_logits(m, [list(case.hashes)])[0]) == list(case.logits)
    assert any(max(c.ids, default=0) >= 2**31 for c in parsed.selftest) == v2  # int32 bits


def test_hash_embedding_header_is_checked() -> None:
    blob = write_blob(v2_model(), 1)
    assert struct.unpack_from("<BBH", blob, 52) == (2, 0, 5)
    for offset, fmt, value in [(52, "<B", 0), (52, "<B", 5), (56, "<i", 1 << 29), (60, "<i", 63),
                               (54, "<H", 6)]:  # fmt: skip
        with pytest.raises(BlobInconsistentError):
            read_blob(patch(blob, offset, fmt, value))
    with pytest.raises(BlobInconsistentError, match="IMP"):
        read_blob(patch(blob, entry_offset(blob, b"IMP "), "<4s", b"XXXX"))


VALID = write_blob(small_model(), 5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
    st.integers(0, len(VALID)),
    st.booleans(),
)
def test_mutations_raise_only_blob_errors(edits, cut, fix_crc) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(VALID)
    for pos, value in edits:
        data[pos] = value
    data = data[:cut] if cut < len(data) else data
    if fix_crc and len(data) >= 8:
        data = bytearray(recrc(data))
    with contextlib.suppress(BlobError):
        read_blob(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 63), st.integers(0, 2**32 - 1))
def test_header_words_with_a_valid_crc_raise_only_blob_errors(offset: int, word: int) -> None:
    data = bytearray(VALID)
    struct.pack_into("<I", data, offset - offset % 4, word)
    with contextlib.suppress(BlobError):
        read_blob(recrc(data))


def test_restamp_changes_only_the_version_and_crc():
    model = small_model()
    original = write_blob(model, 2)
    stamped = restamp_blob(original, 9)
    assert stamped == write_blob(model, 9)  # what the writer makes for version 9
    differing = [i for i, (a, b) in enumerate(zip(original, stamped, strict=True)) if a != b]
    assert differing and all(8 <= i < 12 or i >= len(original) - 4 for i in differing)
    assert read_blob(stamped).model_version == 9


def test_restamp_refuses_an_out_of_range_version_and_a_corrupt_blob():
    blob = write_blob(small_model(), 2)
    for version in (0, 2**32):
        with pytest.raises(BlobInconsistentError, match="model_version"):
            restamp_blob(blob, version)
    corrupt = bytearray(blob)
    corrupt[HEADER_SIZE + 1] ^= 1
    with pytest.raises(BlobCRCError):  # a new CRC must not make a damaged blob look valid
        restamp_blob(bytes(corrupt), 3)
