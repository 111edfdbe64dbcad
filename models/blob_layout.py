"""Device layout of the LSTM tensors in a format-2 model blob (``docs/model-blob.md``).

The converter arranges the input and recurrent weights offline in the order the device kernels
consume them, as CMSIS-NN reorders weights for its SXTB16/SMLAD unpack, so nothing is rearranged
or unpacked twice on the device:

- **gate-interleaved rows**: stored row ``s`` is spec row ``(s % 4) * H + s // 4``, so the four
  gates ``i, f, g, o`` of hidden unit ``u`` are stored rows ``4u .. 4u+3`` (a "quad");
- **paired rows**: stored rows ``2p`` and ``2p+1`` share one int16 per column,
  ``v = 256 * w[2p+1][j] + w[2p][j]`` (exact; every weight in [-127, 127]). SMLAD on a 32-bit
  word of two such values accumulates ``256 * dot(row 2p+1) + dot(row 2p)`` over two columns,
  SMLAD on its SXTB16 ``dot(row 2p)``: four multiply-accumulates for three instructions;
- **column blocks**: a quad's two pairs are stored block by block, 8 columns of the first pair
  then the same 8 of the second (a last, shorter block when the width is not a multiple of 8),
  so one 16-byte load feeds each pair and both pairs reuse the same loaded inputs;
- **requant records**: per stored row ``[Mx, CLx, CHx, Sx, Mh, CLh, CHh, Sh]`` (int32), where
  ``CH:CL`` is a 64-bit offset, ``b * Mx + 2^(nx-1)`` for the input term (the bias folded in)
  and ``2^(nh-1)`` for the recurrent one, and ``S = n - 32``: for ``n >= 32``,
  ``requant(a + b, M, n) = hi32(a * M + CH:CL) >> S``, one SMLAL and one shift.

Everything here is exact integer rearrangement; ``unpack_*`` inverts ``pack_*`` for every
valid model and refuses bytes no valid model packs to (:class:`LayoutError`).
"""

from __future__ import annotations

import numpy as np

from models.errors import ModelsError

RECORD_FIELDS = ("mx", "clx", "chx", "sx", "mh", "clh", "chh", "sh")
RECORD_WIDTH = len(RECORD_FIELDS)  # int32 words per stored row
BLOCK = 8  # columns per block
WEIGHT_MAX = 127  # LSTM weights are in [-127, 127] (docs/integer-lstm.md section 1)
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class LayoutError(ModelsError):
    """Tensor bytes that no valid integer model packs to (a weight or record out of range)."""


def gate_order(hidden: int) -> np.ndarray:
    """``order[s]`` = the spec row stored at row ``s`` (gate-interleaved: i, f, g, o per unit)."""
    s = np.arange(4 * hidden)
    return (s % 4) * hidden + s // 4


def block_positions(rows: int, cols: int) -> np.ndarray:
    """``pos[p, j]``: where pair ``p``'s value of column ``j`` sits among the matrix's int16."""
    assert rows % 4 == 0, "blocked pairs need whole quads"
    pair = np.arange(rows // 2)[:, None]
    j = np.arange(cols)[None, :]
    block = j // BLOCK
    width = np.where(block < cols // BLOCK, BLOCK, cols % BLOCK)  # the last block may be short
    return (pair // 2) * 2 * cols + 2 * BLOCK * block + (pair % 2) * width + j % BLOCK


def pack_weights(w: np.ndarray) -> np.ndarray:
    """int8 ``[R, K]`` in stored row order -> the blob's int8 ``[R, K]`` (paired, blocked)."""
    rows, cols = w.shape
    if np.abs(w.astype(np.int64)).max(initial=0) > WEIGHT_MAX:
        raise LayoutError(f"LSTM weights must be in [-{WEIGHT_MAX}, {WEIGHT_MAX}]")
    pairs = w.astype(np.int64).reshape(rows // 2, 2, cols)
    values = 256 * pairs[:, 1, :] + pairs[:, 0, :]  # [R/2, K]
    out = np.zeros(rows // 2 * cols, dtype="<i2")
    out[block_positions(rows, cols)] = values
    return out.view(np.int8).reshape(rows, cols)


def unpack_weights(stored: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_weights`; :class:`LayoutError` for a weight outside [-127, 127]."""
    rows, cols = stored.shape
    flat = np.ascontiguousarray(stored).reshape(-1).view("<i2").astype(np.int64)
    values = flat[block_positions(rows, cols)]  # [R/2, K]
    low = ((values & 0xFF) ^ 0x80) - 0x80  # the sign-extended low byte: row 2p
    high = (values - low) >> 8  # exact: row 2p+1
    if max(np.abs(low).max(initial=0), np.abs(high).max(initial=0)) > WEIGHT_MAX:
        raise LayoutError(f"a paired weight decodes outside [-{WEIGHT_MAX}, {WEIGHT_MAX}]")
    return np.stack([low, high], axis=1).reshape(rows, cols).astype(np.int8)


def _words(value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int64 values -> (low word as int32 bits, high word)."""
    low = value & 0xFFFFFFFF
    return np.where(low > INT32_MAX, low - 2**32, low), value >> 32


def _offset(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return (high.astype(np.int64) << 32) | (low.astype(np.int64) & 0xFFFFFFFF)


def _half(n: np.ndarray) -> np.ndarray:
    return np.left_shift(np.int64(1), n.astype(np.int64) - 1)


def pack_records(
    b: np.ndarray, mx: np.ndarray, nx: np.ndarray, mh: np.ndarray, nh: np.ndarray
) -> np.ndarray:
    """Spec vectors ``[4H]`` (already in stored order) -> int32 ``[4H, 8]``."""
    clx, chx = _words(b.astype(np.int64) * mx.astype(np.int64) + _half(nx))
    clh, chh = _words(_half(nh))
    cols = [mx, clx, chx, nx.astype(np.int64) - 32, mh, clh, chh, nh.astype(np.int64) - 32]
    return np.stack([np.asarray(c, dtype=np.int64) for c in cols], axis=1).astype(np.int32)


def unpack_records(rec: np.ndarray) -> tuple[np.ndarray, ...]:
    """int32 ``[4H, 8]`` -> ``(b, mx, nx, mh, nh)``; :class:`LayoutError` when a multiplier is
    below 2^30, a shift outside 1..62, the recurrent offset is not ``2^(nh-1)``, or the input
    offset minus ``2^(nx-1)`` is not an int32 multiple of ``Mx``."""
    mx, clx, chx, sx, mh, clh, chh, sh = (rec[:, k].astype(np.int64) for k in range(8))
    nx, nh = sx + 32, sh + 32
    if np.any(mx < 2**30) or np.any(mh < 2**30):
        raise LayoutError("requant record: multiplier outside [2^30, 2^31)")
    if np.any((nx < 1) | (nx > 62) | (nh < 1) | (nh > 62)):
        raise LayoutError("requant record: a shift outside 1..62")
    if np.any(_offset(clh, chh) != _half(nh)):
        raise LayoutError("requant record: the recurrent offset is not 2^(nh-1)")
    biased = _offset(clx, chx) - _half(nx)
    b = biased // mx
    if np.any(b * mx != biased) or np.any(b < INT32_MIN) or np.any(b > INT32_MAX):
        raise LayoutError("requant record: the input offset is not b * Mx + 2^(nx-1)")
    return tuple(v.astype(np.int32) for v in (b, mx, nx, mh, nh))


def pack_direction(
    wx: np.ndarray,
    wh: np.ndarray,
    b: np.ndarray,
    mx: np.ndarray,
    nx: np.ndarray,
    mh: np.ndarray,
    nh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction's spec-order tensors -> stored ``(WX, WH, RQ)``."""
    order = gate_order(wh.shape[1])
    return (
        pack_weights(wx[order]),
        pack_weights(wh[order]),
        pack_records(b[order], mx[order], nx[order], mh[order], nh[order]),
    )


def unpack_direction(
    wx: np.ndarray, wh: np.ndarray, rec: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stored ``(WX, WH, RQ)`` -> spec-order ``(wx, wh, b, mx, nx, mh, nh)``."""
    inverse = np.argsort(gate_order(wh.shape[1]))
    b, mx, nx, mh, nh = unpack_records(rec)
    return (
        unpack_weights(wx)[inverse],
        unpack_weights(wh)[inverse],
        b[inverse],
        mx[inverse],
        nx[inverse],
        mh[inverse],
        nh[inverse],
    )
