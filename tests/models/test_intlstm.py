"""The numpy integer BiLSTM against docs/integer-lstm.md: rounding, multipliers, LUTs, a scalar
re-implementation written straight from the spec, the C tables, and parity with the float model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import intlstm
from models.intlstm import (
    SIGMOID_LUT,
    TANH_LUT,
    DirectionTensors,
    IntegerModelError,
    IntegerStudent,
    encode_multiplier,
    integer_logits,
    lut_lookup,
    requant,
    rshift_round,
)
from models.quantize import QuantizationError, quantize_arrays, quantize_student
from tests.models.int_student import LABELS, encode, float_logits, trained_student

ROOT = Path(__file__).resolve().parents[2]


@given(st.integers(-(2**40), 2**40), st.integers(1, 20))
def test_rshift_round_is_floor_of_half_up(x: int, n: int) -> None:
    assert int(rshift_round(np.int64(x), n)) == (x + 2 ** (n - 1)) // 2**n


def test_rshift_round_rounds_ties_up_for_negative_values() -> None:
    assert rshift_round(np.array([-3, -1, 1, 3, -5]), 1).tolist() == [-1, 0, 1, 2, -2]


@given(st.floats(2.0**-31, 2.0**29, allow_nan=False))
def test_encode_multiplier_range_and_accuracy(r: float) -> None:
    m, n = encode_multiplier(r)
    assert 2**30 <= int(m[0]) < 2**31 and 1 <= int(n[0]) <= 62
    assert abs(int(m[0]) / 2.0 ** int(n[0]) - r) <= r * 2.0**-30


def test_encode_multiplier_carries_a_rounded_up_mantissa() -> None:
    m, n = encode_multiplier(np.nextafter(1.0, 0.0))  # mantissa rounds to 2^31
    assert (int(m[0]), int(n[0])) == (2**30, 30)


@pytest.mark.parametrize("r", [2.0**30, 2.0**-33, 0.0, -1.0, float("nan")])
def test_encode_multiplier_rejects_unencodable_factors(r: float) -> None:
    with pytest.raises(IntegerModelError):
        encode_multiplier(r)


def test_requant_uses_64_bit_products() -> None:
    a = np.array([2**31 - 1, -(2**31)], dtype=np.int64)
    m, n = encode_multiplier(0.5)
    assert requant(a, m, n).tolist() == [2**30, -(2**30)]


def test_lut_values_from_the_spec_formula() -> None:
    assert SIGMOID_LUT.dtype == np.int16 and len(SIGMOID_LUT) == 513
    assert SIGMOID_LUT[256] == 16384 and TANH_LUT[256] == 0
    assert SIGMOID_LUT[0] == 11 and SIGMOID_LUT[512] == 32757
    assert TANH_LUT[0] == -32768 and TANH_LUT[512] == 32767
    assert np.all(np.diff(SIGMOID_LUT) >= 0) and np.all(np.diff(TANH_LUT) >= 0)
    # point symmetry of tanh up to the clamp
    lo, hi = TANH_LUT[1:256].astype(int), TANH_LUT[511:256:-1].astype(int)
    inside = hi < 32767
    assert inside.sum() > 100 and np.array_equal(lo[inside], -hi[inside])


def test_lut_lookup_interpolates_between_entries() -> None:
    z = np.array([-32768, -32768 + 128, 0, 64, 32767])
    out = lut_lookup(SIGMOID_LUT, z)
    assert out[0] == SIGMOID_LUT[0] and out[1] == SIGMOID_LUT[1] and out[2] == 16384
    assert out[3] == SIGMOID_LUT[256] + (int(SIGMOID_LUT[257]) - SIGMOID_LUT[256] + 1) // 2
    step = int(SIGMOID_LUT[512]) - int(SIGMOID_LUT[511])
    assert out[4] == SIGMOID_LUT[511] + (step * 127 + 64) // 128


def test_committed_c_tables_are_the_generated_ones() -> None:
    text = (ROOT / "firmware/src/tl_lut_s16.c").read_text()
    assert text == intlstm.render_c_lut(), "regenerate: python -m models.intlstm --emit-lut ..."
    blocks = re.findall(r"=\s*\{([^}]*)\}", text)
    assert [int(v) for v in blocks[0].replace(",", " ").split()] == SIGMOID_LUT.tolist()
    assert [int(v) for v in blocks[1].replace(",", " ").split()] == TANH_LUT.tolist()


def test_lut_segments_evaluate_to_the_interpolated_table_for_every_input() -> None:
    z = np.arange(-32768, 32768, dtype=np.int64)
    for lut in (SIGMOID_LUT, TANH_LUT):
        seg = intlstm.lut_segments(lut).astype(np.int64)
        k = (z >> 7) + 256
        assert np.array_equal((seg[k, 0] + seg[k, 1] * z) >> 7, lut_lookup(lut, z))
        assert np.abs(seg[k, 0] + seg[k, 1] * z).max() < 2**31  # one 32-bit MLA on the device


def test_emit_c_lut_writes_the_tables_the_header_declares(tmp_path: Path) -> None:
    out = intlstm.emit_c_lut(tmp_path / "src/tl_lut_s16.c")
    header = (ROOT / "firmware/include/tl_activation.h").read_text()
    for name in ("tl_sigmoid_lut", "tl_tanh_lut"):
        assert f"const int16_t {name}[TL_LUT_SIZE]" in out.read_text()
        assert f"extern const int16_t {name}[TL_LUT_SIZE];" in header
    for name in ("tl_sigmoid_seg", "tl_tanh_seg"):
        assert f"const int32_t {name}[TL_LUT_SIZE - 1][2]" in out.read_text()
        assert f"extern const int32_t {name}[TL_LUT_SIZE - 1][2];" in header


# ---------------------------------------------------------------------------------------------
# A scalar version written line by line from the spec with Python ints (no numpy tricks).


def _rsr(x: int, n: int) -> int:
    return (x + (1 << (n - 1))) >> n


def _lut(table: np.ndarray, z: int) -> int:
    u = z + 32768
    k, frac = u >> 7, u & 127
    return int(table[k]) + _rsr((int(table[k + 1]) - int(table[k])) * frac, 7)


def _clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


def _scalar_direction(d: DirectionTensors, xs: list[list[int]]) -> list[list[int]]:
    """The hidden state after every step, in stepping order."""
    H = d.wh.shape[1]
    h, c = [0] * H, [0] * H
    states = []
    for x in xs:
        z = []
        for r in range(4 * H):
            ax = int(d.b[r]) + sum(int(d.wx[r, j]) * x[j] for j in range(len(x)))
            ah = sum(int(d.wh[r, j]) * h[j] for j in range(H))
            zx = _rsr(ax * int(d.mx[r]), int(d.nx[r]))
            zh = _rsr(ah * int(d.mh[r]), int(d.nh[r]))
            z.append(_clamp(zx + zh, -32768, 32767))
        new_h, new_c = [], []
        for u in range(H):
            i, f = _lut(SIGMOID_LUT, z[u]), _lut(SIGMOID_LUT, z[H + u])
            g, o = _lut(TANH_LUT, z[2 * H + u]), _lut(SIGMOID_LUT, z[3 * H + u])
            cu = _clamp(_rsr(f * c[u], 15) + _rsr(i * g, 18), -32768, 32767)
            new_c.append(cu)
            new_h.append(_clamp(_rsr(o * _lut(TANH_LUT, cu), 23), -128, 127))
        h, c = new_h, new_c
        states.append(h)
    return states


def _scalar_pool(m: IntegerStudent, fwd: list[list[int]], bwd: list[list[int]]) -> list[int]:
    H = m.hidden
    if m.pooling == 0:  # final forward state ; final backward state
        return (fwd[-1] if fwd else [0] * H) + (bwd[-1] if bwd else [0] * H)
    if not fwd:
        return [0] * (4 * H)
    n = len(fwd)
    means = [(2 * sum(s[u] for s in states) + n) // (2 * n) for states in (fwd, bwd)
             for u in range(H)]  # fmt: skip
    maxes = [max(s[u] for s in states) for states in (fwd, bwd) for u in range(H)]
    return means + maxes


def _mix32(x: int) -> int:
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    return x ^ (x >> 16)


def _scalar_input(m: IntegerStudent, h: int) -> list[int]:
    """docs/tokenizer.md section 7 and the embedding input, with Python ints."""
    span = m.vocab_size - 2
    rows = [2 + h % span] + [
        2 + _mix32(h ^ ((j * 0x9E3779B9) & 0xFFFFFFFF)) % span for j in range(1, m.hashes)
    ]
    if m.spec_v1:
        return [int(v) for v in m.emb[rows[0]]]
    if m.importance is None:
        weights = [1] * m.hashes
    else:
        weights = [int(w) for w in m.importance[_mix32(h ^ 0x85EBCA6B) % m.buckets]]
    acc = [sum(w * int(m.emb[r, e]) for w, r in zip(weights, rows, strict=True))
           for e in range(m.embed_dim)]  # fmt: skip
    return [_clamp(_rsr(a * m.emb_m, m.emb_n), -128, 127) for a in acc]


def _scalar_logits(m: IntegerStudent, hashes: list[int]) -> list[int]:
    xs = [_scalar_input(m, h) for h in hashes]
    p = _scalar_pool(m, _scalar_direction(m.fwd, xs), _scalar_direction(m.bwd, xs[::-1]))
    out = []
    for k in range(m.num_labels):
        acc = int(m.head_b[k]) + sum(int(m.head_w[k, j]) * p[j] for j in range(len(p)))
        out.append(_rsr(acc * int(m.head_m[k]), int(m.head_n[k])))
    return out


def random_float_state(
    V: int, E: int, H: int, C: int, seed: int, gain: float = 1.0, pooled: int | None = None
) -> dict:
    """TinyLSTM-shaped float tensors; ``gain`` scales the weights (big gains saturate);
    ``pooled`` is the head's input width (default 2H)."""
    rng = np.random.default_rng(seed)
    width = pooled or 2 * H
    state = {
        "embedding.weight": rng.normal(0, 1, (V, E)),
        "head.weight": rng.normal(0, gain / np.sqrt(width), (C, width)),
        "head.bias": rng.normal(0, 0.1, C),
    }
    for s in ("", "_reverse"):
        state[f"lstm.weight_ih_l0{s}"] = rng.normal(0, gain / np.sqrt(E), (4 * H, E))
        state[f"lstm.weight_hh_l0{s}"] = rng.normal(0, gain / np.sqrt(H), (4 * H, H))
        state[f"lstm.bias_ih_l0{s}"] = rng.normal(0, 0.5, 4 * H)
        state[f"lstm.bias_hh_l0{s}"] = rng.normal(0, 0.5, 4 * H)
    return state


@pytest.mark.parametrize(
    ("gain", "hashes", "buckets"), [(1.0, 1, 0), (6.0, 1, 0), (1.0, 2, 7), (6.0, 3, 5), (1.0, 2, 0)]
)
def test_vectorised_reference_equals_the_scalar_spec(
    gain: float, hashes: int, buckets: int
) -> None:
    labels = [f"c{k}" for k in range(3)]
    state = random_float_state(40, 5, 4, 3, seed=7, gain=gain)
    if buckets:
        state["importance.weight"] = np.random.default_rng(8).normal(1.0, 0.5, (buckets, hashes))
    m = quantize_arrays(state, labels, max_len=16, hashes=hashes)
    assert m.spec_v1 == (hashes == 1 and buckets == 0)
    rng = np.random.default_rng(3)
    seqs = [rng.integers(0, 2**32, size=n).tolist() for n in (0, 1, 2, 5, 16, 9)]
    got = integer_logits(m, seqs)
    for seq, row in zip(seqs, got, strict=True):
        assert row.tolist() == _scalar_logits(m, seq)


def test_batching_does_not_change_a_row() -> None:
    m = quantize_arrays(random_float_state(64, 8, 6, 4, seed=1), list("abcd"), max_len=32)
    rng = np.random.default_rng(5)
    seqs = [rng.integers(0, 2**32, size=n).tolist() for n in rng.integers(0, 33, size=12)]
    batch = integer_logits(m, seqs)
    for seq, row in zip(seqs, batch, strict=True):
        assert np.array_equal(integer_logits(m, [seq])[0], row)


def test_empty_message_pools_zeros() -> None:
    m = quantize_arrays(random_float_state(64, 8, 6, 4, seed=1), list("abcd"), max_len=32)
    expected = requant(m.head_b.astype(np.int64), m.head_m, m.head_n)
    assert integer_logits(m, [[]])[0].tolist() == expected.tolist()


def test_hashes_outside_32_bits_are_rejected() -> None:
    m = quantize_arrays(random_float_state(64, 8, 6, 4, seed=1), list("abcd"), max_len=32)
    integer_logits(m, [[0, 2**32 - 1]])
    for bad in (-1, 2**32):
        with pytest.raises(IntegerModelError):
            integer_logits(m, [[bad]])


def test_converter_refuses_rows_of_zeros_with_a_bias() -> None:
    state = random_float_state(64, 8, 6, 4, seed=1)
    state["lstm.weight_ih_l0"][3] = 0.0
    with pytest.raises(QuantizationError, match=r"fwd\.bias"):
        quantize_arrays(state, list("abcd"), max_len=32)


def test_converter_names_missing_tensors() -> None:
    state = random_float_state(64, 8, 6, 4, seed=1)
    del state["head.bias"]
    with pytest.raises(QuantizationError, match=r"head\.bias"):
        quantize_arrays(state, list("abcd"), max_len=32)


def test_integer_student_rejects_wrong_dtypes() -> None:
    m = quantize_arrays(random_float_state(64, 8, 6, 4, seed=1), list("abcd"), max_len=32)
    with pytest.raises(IntegerModelError, match="emb"):
        IntegerStudent(**{**m.__dict__, "emb": m.emb.astype(np.int16)})


@pytest.mark.parametrize(
    ("hash_embedding", "pooling"),
    [(False, "last"), (True, "last"), (True, "meanmax")],
    ids=["spec-v1", "hash-embedding", "hash-embedding-meanmax"],
)
def test_integer_reference_tracks_the_trained_float_student(
    hash_embedding: bool, pooling: str
) -> None:
    model, eval_samples = trained_student(hash_embedding, pooling)
    ids, y = encode(eval_samples)
    f = float_logits(model, ids).numpy()
    q = quantize_student(model, LABELS)
    logits = integer_logits(q, ids)
    agreement = float(np.mean(logits.argmax(1) == f.argmax(1)))
    float_acc = float(np.mean(f.argmax(1) == y.numpy()))
    int_acc = float(np.mean(logits.argmax(1) == y.numpy()))
    assert agreement >= 0.99, agreement
    assert float_acc - int_acc <= 0.005, (float_acc, int_acc)
    assert np.max(np.abs(logits / 1024.0 - f)) < 0.1 * np.max(np.abs(f))


# ---------------------------------------------------------------------------------------------
# The committed golden vectors for the C engine


@pytest.mark.parametrize("pack", ["intlstm", "intlstm_v2", "intlstm_v2_last"])
def test_golden_vectors_are_reproduced_by_the_reference(pack: str) -> None:
    from models.blob import read_blob
    from models.tokenizer import v1_ids

    golden = ROOT / "tests/golden" / pack
    lines = (golden / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    cases = [json.loads(line) for line in lines[1:]]
    assert header["generator"] == "benchmarks.golden.intlstm"
    assert header["integer_lstm_spec_version"] == intlstm.SPEC_VERSION
    # the default student's pack is smaller: v1 and v2 cover the embedding and pooling kernels
    assert header["count"] == len(cases) >= (400 if pack == "intlstm_v2_last" else 1000)
    blob = read_blob((golden / header["blob"]).read_bytes())
    model = blob.model
    assert (model.vocab_size, model.embed_dim, model.hidden) == (2048, 64, 128)
    assert (model.hashes, model.buckets) == (header["hashes"], header["buckets"])
    assert model.pooling == intlstm.POOLING_CODES[header["pooling"]]
    if pack == "intlstm_v2":  # spec v2: the hash embedding and mean+max pooling
        assert not model.spec_v1 and model.pooling == intlstm.POOLING_MEANMAX
    if pack == "intlstm_v2_last":  # the default student: hash embedding, last pooling
        assert (model.hashes, model.buckets) == (2, 4096)
        assert model.pooling == intlstm.POOLING_CODES["last"]
    assert list(model.labels) == header["labels"] and model.num_labels >= 8
    tok = model.tokenizer()
    hashes = [tok.encode(bytes.fromhex(c["hex"])) for c in cases]
    assert hashes == [c["hashes"] for c in cases]
    assert [v1_ids(h, model.vocab_size) for h in hashes] == [c["ids"] for c in cases]
    logits = integer_logits(model, hashes)
    assert logits.tolist() == [c["logits"] for c in cases]
    assert logits.argmax(axis=1).tolist() == [c["label"] for c in cases]
    assert len({c["label"] for c in cases}) == model.num_labels  # every class is exercised
    assert any(len(c["ids"]) == model.max_len for c in cases) and any(not c["ids"] for c in cases)
    assert blob.selftest
    for st_case in blob.selftest:
        assert integer_logits(model, [list(st_case.hashes)])[0].tolist() == list(st_case.logits)
