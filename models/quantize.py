"""The converter: a trained float TinyLSTM -> :class:`~models.intlstm.IntegerStudent`.

Section 7 of ``docs/integer-lstm.md`` (per-tensor embedding scale, per-row symmetric int8
weights, round half away from zero) and the bias / multiplier rules of sections 4 and 6, in
float64. Quantisation-aware training that simulates the same arithmetic lives in
:mod:`models.qat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.errors import ModelsError
from models.intlstm import (
    INTEGER_POOLINGS,
    POOLING_CODES,
    DirectionTensors,
    IntegerModelError,
    IntegerStudent,
    encode_multiplier,
    round_half_away,
)

Q_PRE = 4096.0  # Q3.12: gate pre-activations and the cell state
Q_HIDDEN = 128.0  # Q0.7: hidden state
Q_LOGIT = 1024.0  # Q.10: logits
BIAS_LIMIT = 2**30  # |bias| bound so that bias + the largest dot product stays inside int32
WEIGHT_FLOOR = 1e-8  # a zero weight row gets scale WEIGHT_FLOOR / 127


class QuantizationError(ModelsError):
    """A float model cannot be represented by the integer scheme (names the offending tensor)."""


def embedding_scale(emb: np.ndarray) -> float:
    """``s_x = max|Emb| / 127`` (per tensor)."""
    peak = float(np.max(np.abs(emb))) if emb.size else 0.0
    if not np.isfinite(peak) or peak <= 0.0:
        raise QuantizationError(f"embedding max |value| must be finite and > 0, got {peak}")
    return peak / 127.0


def quantize_tensor(x: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """``clamp(round(x / scale), -127, 127)`` as int8 (``scale`` broadcasts over rows)."""
    q = round_half_away(np.asarray(x, dtype=np.float64) / scale)
    return np.asarray(np.clip(q, -127, 127)).astype(np.int8)


def row_scales(w: np.ndarray) -> np.ndarray:
    """Per-output-row symmetric scales ``max(max_j |W[r][j]|, 1e-8) / 127`` (float64)."""
    peak = np.max(np.abs(np.asarray(w, dtype=np.float64)), axis=1)
    if not np.all(np.isfinite(peak)):
        raise QuantizationError("weights must be finite")
    return np.asarray(np.maximum(peak, WEIGHT_FLOOR) / 127.0)


def _bias(name: str, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    q = round_half_away(np.asarray(b, dtype=np.float64) / scale)
    if not np.all(np.abs(q) < BIAS_LIMIT):
        worst = int(np.argmax(np.abs(q)))
        raise QuantizationError(
            f"{name}[{worst}] = {b[worst]!r} needs {q[worst]:.3g} at its scale (limit 2^30): "
            "the row's weights are (near) zero; keep at least one weight per row"
        )
    return q.astype(np.int32)


def _multipliers(name: str, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        return encode_multiplier(r)
    except IntegerModelError as exc:
        raise QuantizationError(f"{name}: {exc}") from exc


def quantize_direction(
    tag: str,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
    s_x: float,
) -> DirectionTensors:
    """One LSTM direction (PyTorch gate order i, f, g, o) -> int8/int32 tensors (section 4)."""
    s_wx = row_scales(w_ih)  # [4H]
    s_wh = row_scales(w_hh)  # [4H]
    mx, nx = _multipliers(f"{tag}.x", s_wx * s_x * Q_PRE)
    mh, nh = _multipliers(f"{tag}.h", s_wh / Q_HIDDEN * Q_PRE)
    bias = np.asarray(b_ih, dtype=np.float64) + np.asarray(b_hh, dtype=np.float64)
    return DirectionTensors(
        wx=quantize_tensor(w_ih, s_wx[:, None]),
        wh=quantize_tensor(w_hh, s_wh[:, None]),
        b=_bias(f"{tag}.bias", bias, s_wx * s_x),
        mx=mx,
        nx=nx,
        mh=mh,
        nh=nh,
    )


def embedding_input(
    emb: np.ndarray, importance: np.ndarray | None, hashes: int
) -> tuple[np.ndarray, np.ndarray | None, float, int, int]:
    """The hash embedding (``docs/integer-lstm.md`` section 7a): ``(int8 table, int8
    importance or None, s_x, M, n)``.

    Spec v1 (one row, no importance): the table at ``s_x = max|Emb| / 127``, no requantisation.
    Else the table and the importance weights get their own per-tensor scales ``s_e``, ``s_w``
    (``s_w = 1`` without importance weights: the integer weight is 1), and ``s_x`` is the bound
    ``max_b sum_j |W[b, j]| * max|Emb| / 127``: no token's input can saturate, with no data
    needed to calibrate. The sum is requantised by ``s_e * s_w / s_x``.
    """
    s_e = embedding_scale(emb)
    table = quantize_tensor(emb, s_e)
    if hashes == 1 and importance is None:
        return table, None, s_e, 0, 0
    if importance is None:
        w_q, s_w, reach = None, 1.0, float(hashes)
    else:
        w = np.asarray(importance, dtype=np.float64)
        peak = float(np.max(np.abs(w))) if w.size else 0.0
        if not np.isfinite(peak) or peak <= 0.0:
            raise QuantizationError(f"importance max |value| must be finite and > 0, got {peak}")
        s_w = peak / 127.0
        w_q = quantize_tensor(w, s_w)
        reach = float(np.max(np.sum(np.abs(w_q.astype(np.float64)) * s_w, axis=1)))
    s_x = reach * float(np.max(np.abs(emb))) / 127.0
    m, n = _multipliers("embedding", np.array([s_e * s_w / s_x]))
    return table, w_q, s_x, int(m[0]), int(n[0])


def quantize_arrays(
    state: dict[str, np.ndarray],
    labels: Sequence[str],
    max_len: int,
    hashes: int = 1,
    pooling: str = "last",
) -> IntegerStudent:
    """Float tensors named like TinyLSTM's ``state_dict`` -> integer student; ``hashes`` is the
    student's K (``importance.weight`` present means it has buckets), ``pooling`` one of
    ``INTEGER_POOLINGS`` (the head is 2H or 4H wide)."""
    needed = ["embedding.weight", "head.weight", "head.bias"]
    for suffix in ("", "_reverse"):
        needed += [f"lstm.{p}_l0{suffix}" for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    missing = [k for k in needed if k not in state]
    if missing:
        raise QuantizationError(f"float student lacks {missing}")
    emb = np.asarray(state["embedding.weight"], dtype=np.float64)
    importance = state.get("importance.weight")
    table, w_q, s_x, emb_m, emb_n = embedding_input(emb, importance, hashes)
    directions = []
    for tag, suffix in (("fwd", ""), ("bwd", "_reverse")):
        directions.append(
            quantize_direction(
                tag,
                state[f"lstm.weight_ih_l0{suffix}"],
                state[f"lstm.weight_hh_l0{suffix}"],
                state[f"lstm.bias_ih_l0{suffix}"],
                state[f"lstm.bias_hh_l0{suffix}"],
                s_x,
            )
        )
    head_w = np.asarray(state["head.weight"], dtype=np.float64)
    s_wo = row_scales(head_w)  # [C]
    head_m, head_n = _multipliers("head", s_wo / Q_HIDDEN * Q_LOGIT)
    try:
        return IntegerStudent(
            emb=table,
            fwd=directions[0],
            bwd=directions[1],
            head_w=quantize_tensor(head_w, s_wo[:, None]),
            head_b=_bias("head.bias", state["head.bias"], s_wo / Q_HIDDEN),
            head_m=head_m,
            head_n=head_n,
            labels=tuple(labels),
            max_len=int(max_len),
            input_scale=float(s_x),
            pooling=POOLING_CODES[pooling],
            hashes=hashes,
            importance=w_q,
            emb_m=emb_m,
            emb_n=emb_n,
        )
    except IntegerModelError as exc:
        raise QuantizationError(f"float student has inconsistent shapes: {exc}") from exc


def quantize_student(model: Any, labels: Sequence[str]) -> IntegerStudent:
    """A trained :class:`models.student.TinyLSTM` -> integer student."""
    c = model.config
    if c.pooling not in INTEGER_POOLINGS:
        raise QuantizationError(
            f"the integer engine implements pooling {', '.join(INTEGER_POOLINGS)}; "
            f"got {c.pooling!r}"
        )
    state = {k: v.detach().cpu().double().numpy() for k, v in model.state_dict().items()}
    return quantize_arrays(state, labels, c.max_len, c.hashes, c.pooling)


def qat_finetune(
    model: Any, train_examples: Any, valid_examples: Any, tokenizer: Any, **kwargs: Any
) -> Any:
    """QAT through the integer scheme; see :func:`models.qat.qat_finetune` for the arguments."""
    from models.qat import qat_finetune as run  # torch training code, imported on use

    return run(model, train_examples, valid_examples, tokenizer, **kwargs)
