"""Integer entity tagger: the tagging head and CRF Viterbi of ``docs/integer-lstm.md`` section 8.

The numpy reference of what ``tl_tag_head_s8.c`` and ``tl_crf_viterbi_s32.c`` compute, bit for
bit. Per token ``t`` the BiLSTM state ``h_t = [h_fwd(t) ; h_bwd(t)]`` (int8, Q0.7: the forward
state after token ``t`` and the backward state after token ``t``, both from the integer LSTM of
sections 4-5) feeds an int8 head to int32 emissions in Q.10::

    e[t][k] = clamp(requant(tb[k] + sum_j TW[k][j] * h_t[j], TM[k], TN[k]), -2^27, 2^27)

and Viterbi over int32 scores (transitions, start and end in Q.10, ``|v| <= 2^20``) picks the
tag path. After each step the largest score is subtracted from all, so every score stays in
``[-2^29, 0]`` and no sum leaves int32; ties go to the lowest tag index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from models.data.spans import ENTITY_TYPES, TAGS, Entity, tags_to_entities
from models.intlstm import (
    INT32_MAX,
    IntegerModelError,
    IntegerStudent,
    _matmul_exact,
    embed_tokens,
    pad_batch,
    requant,
    run_direction,
)
from models.quantize import Q_HIDDEN, Q_LOGIT, _bias, _multipliers, quantize_tensor, row_scales

if TYPE_CHECKING:
    from models.student import TinyLSTM
    from models.tokenizer import Tokenizer

SPEC_VERSION = 1  # docs/integer-lstm.md section 8 (the tagger) as implemented here
EMISSION_LIMIT = 2**27  # |emission| after the clamp
SCORE_LIMIT = 2**20  # |transition|, |start|, |end| (Q.10: a real score of at most 1024)


@dataclass(frozen=True)
class IntegerTagger:
    """The tagging section of a model blob (``docs/model-blob.md``)."""

    w: np.ndarray  # int8 [K, 2H] head weights
    b: np.ndarray  # int32 [K] head bias at scale s_w[k] / 128
    m: np.ndarray  # int32 [K] multipliers
    n: np.ndarray  # int32 [K] shifts
    transitions: np.ndarray  # int32 [K, K] (from, to), Q.10
    start: np.ndarray  # int32 [K], Q.10
    end: np.ndarray  # int32 [K], Q.10
    entity_types: tuple[str, ...] = ENTITY_TYPES  # tag k > 0 is B/I of type (k - 1) // 2

    def __post_init__(self) -> None:
        k = self.w.shape[0] if self.w.ndim == 2 else 0
        checks: list[tuple[str, np.ndarray, type, tuple[int, ...]]] = [
            ("w", self.w, np.int8, (k, self.w.shape[1] if self.w.ndim == 2 else 0)),
            ("b", self.b, np.int32, (k,)),
            ("m", self.m, np.int32, (k,)),
            ("n", self.n, np.int32, (k,)),
            ("transitions", self.transitions, np.int32, (k, k)),
            ("start", self.start, np.int32, (k,)),
            ("end", self.end, np.int32, (k,)),
        ]
        for name, arr, dtype, shape in checks:
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape:
                raise IntegerModelError(f"tagger.{name} must be {np.dtype(dtype)} {shape}")
        if k != 1 + 2 * len(self.entity_types):
            raise IntegerModelError(f"{k} tags for {len(self.entity_types)} entity types")
        if np.any(self.m < 2**30) or np.any(self.n < 1) or np.any(self.n > 62):
            raise IntegerModelError("tagger: multipliers outside [2^30, 2^31) or shifts 1..62")
        for name in ("transitions", "start", "end"):
            if np.any(np.abs(getattr(self, name).astype(np.int64)) > SCORE_LIMIT):
                raise IntegerModelError(f"tagger.{name}: |value| > 2^20")

    @property
    def num_tags(self) -> int:
        return int(self.w.shape[0])


def quantize_tagger(model: Any) -> IntegerTagger:
    """The float student's ``tagger`` and ``crf`` -> :class:`IntegerTagger`."""
    if model.config.num_tags != len(TAGS):
        raise IntegerModelError(f"the student has {model.config.num_tags} tags, need {len(TAGS)}")
    state = {k: v.detach().cpu().double().numpy() for k, v in model.state_dict().items()}
    w = state["tagger.weight"]
    s_w = row_scales(w)  # [K]
    m, n = _multipliers("tagger", s_w / Q_HIDDEN * Q_LOGIT)

    def scores(name: str) -> np.ndarray:
        q = np.floor(np.abs(state[name]) * Q_LOGIT + 0.5) * np.sign(state[name])
        return np.asarray(np.clip(q, -SCORE_LIMIT, SCORE_LIMIT)).astype(np.int32)

    return IntegerTagger(
        w=quantize_tensor(w, s_w[:, None]),
        b=_bias("tagger.bias", state["tagger.bias"], s_w / Q_HIDDEN),
        m=m,
        n=n,
        transitions=scores("crf.transitions"),
        start=scores("crf.start"),
        end=scores("crf.end"),
    )


def student_tagger(model: Any) -> IntegerTagger | None:
    """The integer tagger of a float student, None when it has no tagging head (what a model
    blob's optional tagging section carries)."""
    return quantize_tagger(model) if model.config.num_tags else None


def integer_emissions(
    model: IntegerStudent, tagger: IntegerTagger, sequences: Sequence[Sequence[int]]
) -> list[np.ndarray]:
    """int32 emissions ``[T_i, K]`` per token hash list (section 8)."""
    hashes, lengths = pad_batch(sequences)
    if hashes.size and (hashes.min() < 0 or hashes.max() > 0xFFFFFFFF):
        raise IntegerModelError("token hashes must be 32-bit unsigned integers")
    if tagger.w.shape[1] != 2 * model.hidden:
        raise IntegerModelError(f"tagger width {tagger.w.shape[1]} != 2H = {2 * model.hidden}")
    x = embed_tokens(model, hashes)  # [B, T, E]
    B, T, _ = x.shape
    h = np.zeros((B, T, 2 * model.hidden), dtype=np.int64)  # [B, T, 2H], zero past a row's end
    h_fwd, h_bwd = h[:, :, : model.hidden], h[:, :, model.hidden :]  # views, filled in place
    run_direction(model.fwd, x, lengths, reverse=False, states=h_fwd)
    run_direction(model.bwd, x, lengths, reverse=True, states=h_bwd)
    D = h.shape[2]
    acc = _matmul_exact(h.reshape(B * T, D), tagger.w) + tagger.b.astype(np.int64)
    e = requant(acc, tagger.m.astype(np.int64), tagger.n.astype(np.int64))
    e = np.clip(e, -EMISSION_LIMIT, EMISSION_LIMIT).reshape(B, T, tagger.num_tags).astype(np.int32)
    return [e[b, : int(lengths[b])] for b in range(B)]


def viterbi(
    emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[list[int], np.ndarray]:
    """Integer Viterbi: ``(path, backpointers [T, K] uint8)``; row 0 of the backpointers is 0.

    Every value is an int32 on the device; int64 here only to assert that nothing overflows.
    """
    T, K = emissions.shape
    back = np.zeros((T, K), dtype=np.uint8)
    if T == 0:
        return [], back
    trans = transitions.astype(np.int64)
    score = start.astype(np.int64) + emissions[0].astype(np.int64)
    score -= score.max()
    for t in range(1, T):
        cand = score[:, None] + trans  # [from, to]
        best = cand.argmax(axis=0)  # the first (lowest) index of the maximum
        new = cand[best, np.arange(K)] + emissions[t].astype(np.int64)
        assert np.all(np.abs(new) <= INT32_MAX), "a Viterbi score left int32"
        back[t] = best
        score = new - new.max()
    last = int((score + end.astype(np.int64)).argmax())
    path = [last]
    for t in range(T - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1], back


def integer_tags(
    model: IntegerStudent, tagger: IntegerTagger, sequences: Sequence[Sequence[int]]
) -> list[list[int]]:
    """Tag path per token hash list, as the device decodes it."""
    return [
        viterbi(e, tagger.transitions, tagger.start, tagger.end)[0]
        for e in integer_emissions(model, tagger, sequences)
    ]


def integer_entities(
    model: TinyLSTM, integer: IntegerStudent, tokenizer: Tokenizer, texts: Sequence[str]
) -> list[list[Entity]]:
    """Entities the integer engine finds for a float tagging student ``model`` converted to
    ``integer`` (its tag head quantised here)."""
    tagger = quantize_tagger(model)
    encoded = [tokenizer.encode_with_spans(t) for t in texts]
    paths = integer_tags(integer, tagger, [[i for i, _, _ in row] for row in encoded])
    return [
        tags_to_entities(p, [(s, e) for _, s, e in row])
        for p, row in zip(paths, encoded, strict=True)
    ]
