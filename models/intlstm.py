"""Numpy reference of the integer BiLSTM (``docs/integer-lstm.md`` v1), its LUTs and their C file.

Everything here is integer arithmetic on int64 numpy arrays, row-vectorised over a batch of
messages; the C engine in ``firmware/`` must reproduce it bit for bit, which the golden vectors
in ``tests/golden/intlstm/`` check. No library implements this exact fixed-point contract
(TFLite-Micro's kernels have other formats and rounding), so it is written by hand.

Matrix products use float64 BLAS: every product is an integer of magnitude <= 127 * 128 and a
row sums at most 256 of them, so every partial sum is an integer far below 2**53 and float64
addition of such integers is exact in any order; the result equals the int64 sum.

    python -m models.intlstm --emit-lut firmware/src/tl_lut_s16.c    # regenerate the C tables

Its golden vectors are written by ``python -m benchmarks.golden.intlstm``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.embedding import MAX_BUCKETS, MAX_HASHES, buckets_np, rows_np
from models.errors import ModelsError
from models.tokenizer import Tokenizer

SPEC_VERSION = 2  # the version of docs/integer-lstm.md implemented here
GENERATOR = "models.intlstm"
GENERATOR_VERSION = 1  # bump when the emitted C or golden files change shape
LUT_SIZE = 513  # entries of each table: inputs -8 + k/32, k = 0..512
LOGIT_FRAC_BITS = 10  # logits are Q.10
POOLING_LAST = 0  # final forward + final backward state (section 5)
POOLING_MEANMAX = 1  # mean and max of every step's states over the message (section 5)
POOLING_CODES = {"last": POOLING_LAST, "meanmax": POOLING_MEANMAX}  # student pooling -> mode
INTEGER_POOLINGS = tuple(POOLING_CODES)  # the student poolings this integer engine implements
INT16_MIN, INT16_MAX = -32768, 32767
INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class IntegerModelError(ModelsError):
    """An integer student's tensors are inconsistent (shape, dtype or parameter range)."""


# ---------------------------------------------------------------------------------------------
# Section 2: rounding and requantisation


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """The converter's ``round``: half away from zero (numpy's ``round`` is half to even)."""
    x = np.asarray(x, dtype=np.float64)
    rounded: np.ndarray = np.sign(x) * np.floor(np.abs(x) + 0.5)
    return rounded


def rshift_round(x: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """``floor((x + 2^(n-1)) / 2^n)`` on int64: a right shift that rounds half up (n >= 1)."""
    x = np.asarray(x, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    assert np.all(n >= 1), "rshift_round needs n >= 1"
    shifted: np.ndarray = (x + np.left_shift(np.int64(1), n - 1)) >> n
    return shifted


def requant(a: np.ndarray, m: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``rshift_round((int64) a * M, n)``: ``a * M / 2^n`` with the one rounding rule."""
    return rshift_round(np.asarray(a, dtype=np.int64) * np.asarray(m, dtype=np.int64), n)


def encode_multiplier(r: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Real factors ``r > 0`` -> int32 ``(M, n)`` with ``r ~= M / 2^n``, ``2^30 <= M < 2^31``.

    Raises :class:`IntegerModelError` when a factor is not positive or needs ``n`` outside 1..62.
    """
    r = np.atleast_1d(np.asarray(r, dtype=np.float64))
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise IntegerModelError("requantisation factors must be finite and > 0")
    mant, exp = np.frexp(r)  # r = mant * 2^exp, 0.5 <= mant < 1
    m = np.floor(mant * 2.0**31 + 0.5).astype(np.int64)  # mant > 0: half away == half up
    carry = m == 2**31
    m = np.where(carry, 2**30, m)
    exp = np.where(carry, exp + 1, exp)
    n = 31 - exp.astype(np.int64)
    if np.any(n < 1) or np.any(n > 62):
        bad = r[(n < 1) | (n > 62)]
        raise IntegerModelError(f"requantisation factor(s) {bad[:3]} need a shift outside 1..62")
    return m.astype(np.int32), n.astype(np.int32)


def sat16(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.clip(x, INT16_MIN, INT16_MAX))


def sat8(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.clip(x, INT8_MIN, INT8_MAX))


# ---------------------------------------------------------------------------------------------
# Section 3: lookup tables


def sigmoid_lut() -> np.ndarray:
    """``min(32767, floor(32768 * sigmoid(-8 + k/32) + 0.5))`` for k = 0..512, int16."""
    x = -8.0 + np.arange(LUT_SIZE, dtype=np.float64) / 32.0
    y = np.floor(32768.0 / (1.0 + np.exp(-x)) + 0.5)
    return np.minimum(y, INT16_MAX).astype(np.int16)


def tanh_lut() -> np.ndarray:
    """``clamp(floor(32768 * tanh(-8 + k/32) + 0.5), -32768, 32767)`` for k = 0..512, int16."""
    x = -8.0 + np.arange(LUT_SIZE, dtype=np.float64) / 32.0
    y = np.floor(32768.0 * np.tanh(x) + 0.5)
    return np.clip(y, INT16_MIN, INT16_MAX).astype(np.int16)


SIGMOID_LUT = sigmoid_lut()
TANH_LUT = tanh_lut()


def lut_lookup(lut: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Q3.12 int16 values ``z`` -> Q0.15 through ``lut`` with linear interpolation (int64)."""
    table = lut.astype(np.int64)
    u = np.asarray(z, dtype=np.int64) + 32768  # 0 .. 65535
    assert u.min(initial=0) >= 0 and u.max(initial=0) <= 65535, "lut input is not int16"
    k = u >> 7  # 0 .. 511
    frac = u & 127
    lo = table[k]
    out: np.ndarray = lo + rshift_round((table[k + 1] - lo) * frac, 7)
    return out


# ---------------------------------------------------------------------------------------------
# The integer student: tensors exactly as the model blob stores them


@dataclass(frozen=True)
class DirectionTensors:
    """One LSTM direction (section 4); gate order i, f, g, o along every ``4H`` axis."""

    wx: np.ndarray  # int8 [4H, E] input weights
    wh: np.ndarray  # int8 [4H, H] recurrent weights
    b: np.ndarray  # int32 [4H] bias at scale s_wx[r] * s_x
    mx: np.ndarray  # int32 [4H] multipliers for the input accumulator
    nx: np.ndarray  # int32 [4H] shifts for the input accumulator
    mh: np.ndarray  # int32 [4H] multipliers for the recurrent accumulator
    nh: np.ndarray  # int32 [4H] shifts for the recurrent accumulator


@dataclass(frozen=True)
class IntegerStudent:
    """Everything the device needs to run the integer TinyLSTM, as the blob stores it."""

    emb: np.ndarray  # int8 [V, E] embedding rows at scale s_x
    fwd: DirectionTensors  # forward direction
    bwd: DirectionTensors  # backward direction
    head_w: np.ndarray  # int8 [C, 2H] head weights
    head_b: np.ndarray  # int32 [C] head bias at scale s_wo[k] / 128
    head_m: np.ndarray  # int32 [C] head multipliers
    head_n: np.ndarray  # int32 [C] head shifts
    labels: tuple[str, ...]  # C label names
    max_len: int  # tokenizer truncation L
    input_scale: float  # s_x (informational)
    pooling: int = POOLING_LAST  # section 5's mode; the head reads 2H (last) or 4H (meanmax)
    hashes: int = 1  # K table rows per token (docs/tokenizer.md section 7)
    importance: np.ndarray | None = None  # int8 [P, K] importance weights, None when P = 0
    emb_m: int = 0  # multiplier of the embedding sum -> x (0 on the spec v1 path)
    emb_n: int = 0  # its shift

    def __post_init__(self) -> None:
        self.validate()

    @property
    def spec_v1(self) -> bool:
        """One row per token, no importance weights: x is the table row itself (spec v1)."""
        return self.hashes == 1 and self.importance is None

    @property
    def buckets(self) -> int:
        """P, the importance-weight rows (0 without them)."""
        return 0 if self.importance is None else int(self.importance.shape[0])

    def tokenizer(self) -> Tokenizer:
        """The tokenizer whose hashes this model reads."""
        return Tokenizer(max_len=self.max_len)

    @property
    def vocab_size(self) -> int:
        return int(self.emb.shape[0])

    @property
    def embed_dim(self) -> int:
        return int(self.emb.shape[1])

    @property
    def hidden(self) -> int:
        return int(self.fwd.wh.shape[1])

    @property
    def num_labels(self) -> int:
        return int(self.head_w.shape[0])

    @property
    def pooled_dim(self) -> int:
        """Width of the pooled vector the head reads: 2H, or 4H for mean+max."""
        return (4 if self.pooling == POOLING_MEANMAX else 2) * self.hidden

    def validate(self) -> None:
        """Raise :class:`IntegerModelError` unless every tensor has the spec's dtype and shape."""
        V, E = self.emb.shape if self.emb.ndim == 2 else (0, 0)
        H = self.fwd.wh.shape[1] if self.fwd.wh.ndim == 2 else 0
        C = self.head_w.shape[0] if self.head_w.ndim == 2 else 0
        if self.pooling not in POOLING_CODES.values():
            raise IntegerModelError(f"pooling mode {self.pooling} unknown")
        width = (4 if self.pooling == POOLING_MEANMAX else 2) * H
        expected: list[tuple[str, np.ndarray, type, tuple[int, ...]]] = [
            ("emb", self.emb, np.int8, (V, E)),
            ("head_w", self.head_w, np.int8, (C, width)),
            ("head_b", self.head_b, np.int32, (C,)),
            ("head_m", self.head_m, np.int32, (C,)),
            ("head_n", self.head_n, np.int32, (C,)),
        ]
        for tag, d in (("fwd", self.fwd), ("bwd", self.bwd)):
            expected += [
                (f"{tag}.wx", d.wx, np.int8, (4 * H, E)),
                (f"{tag}.wh", d.wh, np.int8, (4 * H, H)),
            ]
            for name in ("b", "mx", "nx", "mh", "nh"):
                expected.append((f"{tag}.{name}", getattr(d, name), np.int32, (4 * H,)))
        for name, arr, dtype, shape in expected:
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape:
                got = (getattr(arr, "dtype", type(arr)), getattr(arr, "shape", None))
                raise IntegerModelError(f"{name} must be {np.dtype(dtype)} {shape}, got {got}")
        if min(V, E, H) < 1 or C < 2:
            raise IntegerModelError(f"degenerate dimensions V={V} E={E} H={H} C={C}")
        if not 1 <= self.hashes <= MAX_HASHES:
            raise IntegerModelError(f"hashes must be in 1..{MAX_HASHES}, got {self.hashes}")
        if self.importance is not None:
            imp = self.importance
            if imp.dtype != np.int8 or imp.ndim != 2 or imp.shape[1] != self.hashes:
                raise IntegerModelError(f"importance must be int8 [P, {self.hashes}]")
            if not 1 <= imp.shape[0] <= MAX_BUCKETS:
                raise IntegerModelError(f"importance needs 1..{MAX_BUCKETS} rows")
        if not self.spec_v1 and not (2**30 <= self.emb_m < 2**31 and 1 <= self.emb_n <= 62):
            raise IntegerModelError("emb: multiplier outside [2^30, 2^31) or shift outside 1..62")
        if len(self.labels) != C:
            raise IntegerModelError(f"{len(self.labels)} labels for {C} head rows")
        for name, m, n in self._multipliers():
            if np.any(m < 2**30) or np.any(n < 1) or np.any(n > 62):
                raise IntegerModelError(f"{name}: multipliers outside [2^30, 2^31) or shifts 1..62")

    def _multipliers(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [
            ("fwd.x", self.fwd.mx, self.fwd.nx),
            ("fwd.h", self.fwd.mh, self.fwd.nh),
            ("bwd.x", self.bwd.mx, self.bwd.nx),
            ("bwd.h", self.bwd.mh, self.bwd.nh),
            ("head", self.head_m, self.head_n),
        ]


# ---------------------------------------------------------------------------------------------
# Sections 4-6: the forward pass


def _matmul_exact(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a @ w.T`` for small integers, exact through float64 BLAS (see the module docstring)."""
    return (a.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)


def run_direction(
    d: DirectionTensors,
    x: np.ndarray,
    lengths: np.ndarray,
    reverse: bool,
    states: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction over int8 inputs ``x`` [B, T, E]: the final hidden state, the sum and the
    maximum of the hidden states over the steps, each int64 [B, H] (sum and max are 0 for an
    empty row).

    Row ``b`` steps over its first ``lengths[b]`` positions only (forwards, or backwards from
    ``lengths[b] - 1`` when ``reverse``); a row's state is left untouched at other positions,
    which is exactly "no padding on the device". When ``states`` (int64 [B, T, H]) is given, the
    state after each position is written into it (the entity tagger's input; entries past a
    row's length are left as they are).
    """
    B, T, E = x.shape
    H = d.wh.shape[1]
    b = d.b.astype(np.int64)
    ax_all = _matmul_exact(x.reshape(B * T, E), d.wx).reshape(B, T, 4 * H) + b  # [B, T, 4H]
    mx, nx = d.mx.astype(np.int64), d.nx.astype(np.int64)
    mh, nh = d.mh.astype(np.int64), d.nh.astype(np.int64)
    h = np.zeros((B, H), dtype=np.int64)
    c = np.zeros((B, H), dtype=np.int64)
    h_sum = np.zeros((B, H), dtype=np.int64)
    h_max = np.full((B, H), INT8_MIN, dtype=np.int64)
    steps = range(T - 1, -1, -1) if reverse else range(T)
    for t in steps:
        active = (t < lengths)[:, None]  # [B, 1]
        ah = _matmul_exact(h, d.wh)  # [B, 4H]
        z = sat16(requant(ax_all[:, t], mx, nx) + requant(ah, mh, nh))  # [B, 4H] Q3.12
        i = lut_lookup(SIGMOID_LUT, z[:, 0:H])
        f = lut_lookup(SIGMOID_LUT, z[:, H : 2 * H])
        g = lut_lookup(TANH_LUT, z[:, 2 * H : 3 * H])
        o = lut_lookup(SIGMOID_LUT, z[:, 3 * H : 4 * H])
        c_new = sat16(rshift_round(f * c, 15) + rshift_round(i * g, 18))  # Q3.12
        h_new = sat8(rshift_round(o * lut_lookup(TANH_LUT, c_new), 23))  # Q0.7
        c = np.where(active, c_new, c)
        h = np.where(active, h_new, h)
        h_sum = np.where(active, h_sum + h_new, h_sum)
        h_max = np.where(active, np.maximum(h_max, h_new), h_max)
        if states is not None:
            states[:, t] = np.where(active, h, states[:, t])
    h_max = np.where((lengths > 0)[:, None], h_max, 0)
    return h, h_sum, h_max


def mean_pool(h_sum: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``floor((2 * sum + T) / (2 * T))``: the mean of T int8 states rounded half up (0 when
    T = 0); int64 [B, H]."""
    t = lengths[:, None].astype(np.int64)
    return np.where(t > 0, np.floor_divide(2 * h_sum + t, 2 * np.maximum(t, 1)), 0)


def pad_batch(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Id lists -> ``(ids int64 [B, Tmax] padded with 0, lengths int64 [B])``."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    width = int(lengths.max()) if len(sequences) else 0
    ids = np.zeros((len(sequences), width), dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
    return ids, lengths


def embed_tokens(model: IntegerStudent, hashes: np.ndarray) -> np.ndarray:
    """int8-valued int64 inputs ``x`` [B, T, E] of token hashes [B, T] (spec section 4a).

    Spec v1: the table row. Else ``acc = sum_j w_j * Emb[row_j]`` (``w_j`` the token's
    importance weights, or 1 without them) requantised to ``x = sat8(requant(acc, M, n))``.
    """
    r = rows_np(hashes, model.vocab_size, model.hashes)  # [B, T, K]
    picked: np.ndarray = model.emb[r].astype(np.int64)  # [B, T, K, E]
    if model.spec_v1:
        return np.asarray(picked[:, :, 0])  # [B, T, E]
    if model.importance is not None:
        w = model.importance[buckets_np(hashes, model.buckets)].astype(np.int64)  # [B, T, K]
        picked = picked * w[..., None]  # [B, T, K, E]
    acc = picked.sum(axis=2)  # [B, T, E]
    return sat8(requant(acc, np.array(model.emb_m), np.array(model.emb_n)))


def integer_logits(
    model: IntegerStudent, sequences: Sequence[Sequence[int]], chunk: int = 256
) -> np.ndarray:
    """int32 Q.10 logits [B, C] of the integer student for each token hash list (the
    tokenizer's output; spec sections 4-6).

    Rows are independent, so they run in chunks of similar length (less padding to step over).
    """
    order = sorted(range(len(sequences)), key=lambda k: len(sequences[k]))
    out = np.zeros((len(sequences), model.num_labels), dtype=np.int32)
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        out[rows] = _logits_chunk(model, [sequences[k] for k in rows])
    return out


def _logits_chunk(model: IntegerStudent, sequences: Sequence[Sequence[int]]) -> np.ndarray:
    hashes, lengths = pad_batch(sequences)
    if hashes.size and (hashes.min() < 0 or hashes.max() > 0xFFFFFFFF):
        raise IntegerModelError("token hashes must be 32-bit unsigned integers")
    x = embed_tokens(model, hashes)  # [B, T, E]
    h_fwd, sum_fwd, max_fwd = run_direction(model.fwd, x, lengths, reverse=False)  # [B, H] each
    h_bwd, sum_bwd, max_bwd = run_direction(model.bwd, x, lengths, reverse=True)  # [B, H] each
    if model.pooling == POOLING_MEANMAX:
        means = [mean_pool(sum_fwd, lengths), mean_pool(sum_bwd, lengths)]
        p = np.concatenate([*means, max_fwd, max_bwd], axis=1)  # [B, 4H] Q0.7
    else:
        p = np.concatenate([h_fwd, h_bwd], axis=1)  # [B, 2H] Q0.7 (zeros for T = 0)
    acc = _matmul_exact(p, model.head_w) + model.head_b.astype(np.int64)  # [B, C]
    logits = requant(acc, model.head_m.astype(np.int64), model.head_n.astype(np.int64))
    # Converted models stay far inside int32; a hand-made blob's logits saturate (spec section 6).
    saturated: np.ndarray = np.clip(logits, INT32_MIN, INT32_MAX).astype(np.int32)
    return saturated


def predict(model: IntegerStudent, sequences: Sequence[Sequence[int]]) -> np.ndarray:
    """Predicted label index per token hash list (``argmax`` takes the lowest index on a tie)."""
    return np.asarray(np.argmax(integer_logits(model, sequences), axis=1))


# ---------------------------------------------------------------------------------------------
# C emission of the tables


def _c_array(name: str, values: np.ndarray) -> str:
    rows = []
    for start in range(0, len(values), 12):
        chunk = ", ".join(f"{int(v):6d}" for v in values[start : start + 12])
        rows.append(f"    {chunk},")
    return f"const int16_t {name}[TL_LUT_SIZE] = {{\n" + "\n".join(rows) + "\n};\n"


def lut_segments(lut: np.ndarray) -> np.ndarray:
    """The same table as 512 line segments, int32 ``[512, 2]`` of ``(base, slope)``: for a Q3.12
    ``z`` with ``k = (z >> 7) + 256``, ``lut_lookup(lut, z) == (base[k] + slope[k] * z) >> 7``
    exactly (``base = 128 * lut[k] + 64 - 128 * slope * (k - 256)``, ``slope = lut[k+1] -
    lut[k]``): the form the Cortex-M4 kernel evaluates with one multiply-accumulate."""
    table = lut.astype(np.int64)
    slope = table[1:] - table[:-1]
    k_signed = np.arange(LUT_SIZE - 1, dtype=np.int64) - 256
    base = 128 * table[:-1] + 64 - 128 * slope * k_signed
    return np.stack([base, slope], axis=1).astype(np.int32)


def _c_segments(name: str, seg: np.ndarray) -> str:
    rows = []
    for start in range(0, len(seg), 4):
        chunk = ", ".join(f"{{{int(b)}, {int(d)}}}" for b, d in seg[start : start + 4])
        rows.append(f"    {chunk},")
    return f"const int32_t {name}[TL_LUT_SIZE - 1][2] = {{\n" + "\n".join(rows) + "\n};\n"


def render_c_lut() -> str:
    """The text of ``firmware/src/tl_lut_s16.c`` (declared in ``include/tl_activation.h``)."""
    return (
        f"/* GENERATED by {GENERATOR} (generator version {GENERATOR_VERSION}, "
        f"integer-lstm spec version {SPEC_VERSION}); do not edit.\n"
        " * Regenerate with: python -m models.intlstm --emit-lut firmware/src/tl_lut_s16.c */\n"
        '#include "tl_activation.h"\n\n'
        "/* sigmoid_lut[k] = min(32767, floor(32768 * sigmoid(-8 + k/32) + 0.5)) */\n"
        + _c_array("tl_sigmoid_lut", SIGMOID_LUT)
        + "\n/* tanh_lut[k] = clamp(floor(32768 * tanh(-8 + k/32) + 0.5), -32768, 32767) */\n"
        + _c_array("tl_tanh_lut", TANH_LUT)
        + "\n/* The tables as line segments {base, slope}: lut(z) = (base + slope * z) >> 7,\n"
        " * k = (z >> 7) + 256 (models.intlstm.lut_segments) */\n"
        + _c_segments("tl_sigmoid_seg", lut_segments(SIGMOID_LUT))
        + "\n"
        + _c_segments("tl_tanh_seg", lut_segments(TANH_LUT))
    )


def emit_c_lut(path: str | Path) -> Path:
    """Write the C tables to ``path`` (declared in ``firmware/include/tl_activation.h``)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_c_lut())
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.intlstm", description=__doc__)
    parser.add_argument(
        "--emit-lut", metavar="C_FILE", required=True, help="write the C lookup tables"
    )
    args = parser.parse_args(argv)
    c_path = Path(args.emit_lut)
    emit_c_lut(c_path)
    print(f"wrote {c_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
