"""Golden vectors for the C CRF decoder (``tl_crf_viterbi_s32``): ``viterbi.jsonl``.

Each case is a tag count ``k``, int32 transitions / start / end (``|v| <= 2^20``), emissions
``[T][k]`` (``|e| <= 2^27``) and the tag path the reference decoder (``models.inttagger``)
finds. The cases cover empty and one-token inputs, ties everywhere (the lowest index must
win), scores at the bounds (every sum must stay inside int32), trained-model magnitudes and
the largest tag count a backpointer can name.

    python -m models.inttagger --golden tests/golden/tagger
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.inttagger import EMISSION_LIMIT, SCORE_LIMIT, SPEC_VERSION, viterbi

GENERATOR = "models.inttagger_golden"
GENERATOR_VERSION = 1


def _case(rng: np.random.Generator, kind: str, k: int, t: int) -> dict[str, object]:
    if kind == "bounds":
        emissions = rng.choice([-EMISSION_LIMIT, 0, EMISSION_LIMIT], (t, k))
        scores = rng.choice([-SCORE_LIMIT, 0, SCORE_LIMIT], k * k + 2 * k)
    elif kind == "ties":
        emissions = rng.integers(-1, 2, (t, k)) * 1024
        scores = rng.integers(-1, 2, k * k + 2 * k) * 512
    elif kind == "zeros":
        emissions = np.zeros((t, k), dtype=np.int64)
        scores = np.zeros(k * k + 2 * k, dtype=np.int64)
    else:  # trained-model magnitudes: emissions of a few units, transitions around +-4
        emissions = rng.normal(0, 4 * 1024, (t, k)).round()
        scores = rng.normal(0, 3 * 1024, k * k + 2 * k).round()
    emissions = np.clip(emissions, -EMISSION_LIMIT, EMISSION_LIMIT).astype(np.int32)
    scores = np.clip(scores, -SCORE_LIMIT, SCORE_LIMIT).astype(np.int32)
    trans, start, end = scores[: k * k].reshape(k, k), scores[k * k : k * k + k], scores[-k:]
    path, _ = viterbi(emissions, trans, start, end)
    return {"kind": kind, "k": k, "t": t, "transitions": trans.flatten().tolist(),
            "start": start.tolist(), "end": end.tolist(),
            "emissions": emissions.flatten().tolist(), "tags": path}  # fmt: skip


def write_viterbi_golden(out_dir: Path, seed: int = 0) -> int:
    """Write ``out_dir/viterbi.jsonl`` (header line first); returns the number of cases."""
    rng = np.random.default_rng(seed)
    cases = [_case(rng, "zeros", 11, t) for t in (0, 1, 2, 64)]
    cases += [_case(rng, "bounds", 11, 64) for _ in range(4)]
    cases += [_case(rng, "bounds", 2, int(rng.integers(1, 64))) for _ in range(8)]
    cases += [_case(rng, "ties", int(rng.integers(2, 12)), int(rng.integers(1, 40)))
              for _ in range(40)]  # fmt: skip
    cases += [_case(rng, "trained", 11, int(rng.integers(1, 65))) for _ in range(30)]
    cases += [_case(rng, "trained", 40, 8), _case(rng, "ties", 40, 3)]
    out_dir.mkdir(parents=True, exist_ok=True)
    header = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION,
              "integer_lstm_spec_version": SPEC_VERSION,
              "created_by": f"python -m models.inttagger --golden {out_dir}",
              "count": len(cases),
              "fields": {"k": "tags", "t": "tokens", "transitions": "int32 [k][k] from, to",
                         "start": "int32 [k]", "end": "int32 [k]",
                         "emissions": "int32 [t][k]", "tags": "the decoded path"}}  # fmt: skip
    with (out_dir / "viterbi.jsonl").open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(header) + "\n")
        for case in cases:
            fh.write(json.dumps(case, separators=(",", ":")) + "\n")
    return len(cases)
