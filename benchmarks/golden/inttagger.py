"""Golden vectors of the entity tagger for the C engine: ``viterbi.jsonl`` (the CRF decoder
``tl_crf_viterbi_s32`` alone) and ``cases.jsonl`` with ``model_v1.blob`` / ``model_v2.blob``
(the whole engine with a tagging section: tag head emissions and tag paths).

Each case is a tag count ``k``, int32 transitions / start / end (``|v| <= 2^20``), emissions
``[T][k]`` (``|e| <= 2^27``) and the tag path the reference decoder (``models.inttagger``)
finds. The cases cover empty and one-token inputs, ties everywhere (the lowest index must
win), scores at the bounds (every sum must stay inside int32), trained-model magnitudes and
the largest tag count a backpointer can name.

The engine cases run two small tagging students (spec v1: one table row per token, last
pooling; spec v2: the hash embedding and mean+max pooling), randomly initialised with a
seed and converted like a release (``quantize_student``, ``quantize_tagger``), over
synthetic logistics messages and edge inputs: per case the bytes, the label and int32 logits,
and per token the int32 emissions and the tag of the reference (``models.inttagger``).

    python -m benchmarks.golden.inttagger tests/golden/tagger
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.inttagger import EMISSION_LIMIT, SCORE_LIMIT, SPEC_VERSION, viterbi

GENERATOR = "benchmarks.golden.inttagger"
GENERATOR_VERSION = 1
# blob file -> StudentConfig fields (small: both blobs sit in the Cortex-M4 test image)
ENGINE_MODELS: dict[str, dict[str, object]] = {
    "model_v1.blob": {"vocab_size": 512, "embed_dim": 16, "hidden": 16, "max_len": 64},
    "model_v2.blob": {"vocab_size": 256, "embed_dim": 12, "hidden": 12, "max_len": 48,
                      "hashes": 2, "buckets": 64, "pooling": "meanmax"},
}  # fmt: skip


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
              "created_by": f"python -m benchmarks.golden.inttagger {out_dir}",
              "count": len(cases),
              "fields": {"k": "tags", "t": "tokens", "transitions": "int32 [k][k] from, to",
                         "start": "int32 [k]", "end": "int32 [k]",
                         "emissions": "int32 [t][k]", "tags": "the decoded path"}}  # fmt: skip
    with (out_dir / "viterbi.jsonl").open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(header) + "\n")
        for case in cases:
            fh.write(json.dumps(case, separators=(",", ":")) + "\n")
    return len(cases)


def _engine_model(fields: dict[str, object], seed: int) -> object:
    import torch

    from models.student import StudentConfig, TinyLSTM
    from models.tagging import NUM_TAGS

    torch.manual_seed(seed)
    model = TinyLSTM(StudentConfig(num_labels=4, num_tags=NUM_TAGS, **fields))  # type: ignore[arg-type]
    with torch.no_grad():  # untrained scores of the order of the emissions: varied paths
        model.tagger.weight.mul_(4.0)
        for scores in (model.crf.transitions, model.crf.start, model.crf.end):
            scores.normal_(0.0, 1.0)
    return model.eval()


def _engine_texts(seed: int) -> list[bytes]:
    import random

    from benchmarks.golden.intlstm import edge_messages
    from models.data.synth import SynthConfig, synth_examples

    rng = random.Random(seed)
    synth = synth_examples(SynthConfig(seed=seed, train=10, valid=10, test=60, phases=3), 2, "test")
    edges = edge_messages(rng)
    return [ex.text.encode() for ex in synth] + edges[:9] + rng.sample(edges[9:], 12)


def write_engine_golden(out_dir: Path, seed: int = 0) -> int:
    """Write the two blobs and ``out_dir/cases.jsonl``; returns the number of cases."""
    import torch

    from models.blob import write_blob
    from models.intlstm import integer_logits
    from models.inttagger import integer_emissions, quantize_tagger
    from models.quantize import quantize_student

    torch.set_num_threads(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = _engine_texts(seed)
    lines = []
    for index, (name, fields) in enumerate(ENGINE_MODELS.items()):
        model = _engine_model(fields, seed + index)
        student = quantize_student(model, ["a", "b", "c", "d"])
        tagger = quantize_tagger(model)
        (out_dir / name).write_bytes(write_blob(student, model_version=1, tagger=tagger))
        tok = student.tokenizer()
        keys = [tok.encode(t) for t in texts]
        logits = integer_logits(student, keys)
        emissions = integer_emissions(student, tagger, keys)
        for text, row, e in zip(texts, logits, emissions, strict=True):
            path, _ = viterbi(e, tagger.transitions, tagger.start, tagger.end)
            lines.append({"blob": index, "hex": text.hex(), "label": int(np.argmax(row)),
                          "logits": [int(v) for v in row], "k": tagger.num_tags,
                          "emissions": e.flatten().tolist(), "tags": path})  # fmt: skip
    header = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION,
              "integer_lstm_spec_version": SPEC_VERSION,
              "created_by": f"python -m benchmarks.golden.inttagger {out_dir}",
              "blobs": list(ENGINE_MODELS), "count": len(lines),
              "torch": torch.__version__, "numpy": np.__version__,
              "fields": {"blob": "index into blobs", "hex": "input bytes",
                         "label": "argmax", "logits": "int32 Q.10", "k": "tags",
                         "emissions": "int32 [T][k] Q.10", "tags": "the decoded path"}}  # fmt: skip
    with (out_dir / "cases.jsonl").open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(header) + "\n")
        for case in lines:
            fh.write(json.dumps(case, separators=(",", ":")) + "\n")
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.golden.inttagger", description=__doc__
    )
    parser.add_argument("out_dir", type=Path, help="where the Viterbi and engine vectors go")
    args = parser.parse_args(argv)
    count = write_viterbi_golden(args.out_dir)
    print(f"wrote {count} Viterbi cases to {args.out_dir}/viterbi.jsonl")
    count = write_engine_golden(args.out_dir)
    print(f"wrote {count} engine cases to {args.out_dir}/cases.jsonl")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
