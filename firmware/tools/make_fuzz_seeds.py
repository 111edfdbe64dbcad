"""Write small valid model blobs (tiny random integer students, with and without STST, one
with a tagging section) as the blob fuzzer's seed corpus, so mutations start from inputs that
pass every check.

    python firmware/tools/make_fuzz_seeds.py OUT_DIR
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from models.blob import write_blob
from models.intlstm import DirectionTensors, IntegerStudent, encode_multiplier
from models.inttagger import IntegerTagger


def tiny_model(seed: int, vocab: int, embed: int, hidden: int, labels: int) -> IntegerStudent:
    rng = np.random.default_rng(seed)

    def mult(rows: int) -> tuple[np.ndarray, np.ndarray]:
        return encode_multiplier(rng.uniform(0.5, 40.0, size=rows))

    def direction() -> DirectionTensors:
        mx, nx = mult(4 * hidden)
        mh, nh = mult(4 * hidden)
        return DirectionTensors(
            wx=rng.integers(-127, 128, (4 * hidden, embed), dtype=np.int8),
            wh=rng.integers(-127, 128, (4 * hidden, hidden), dtype=np.int8),
            b=rng.integers(-3000, 3000, 4 * hidden).astype(np.int32),
            mx=mx,
            nx=nx,
            mh=mh,
            nh=nh,
        )

    hm, hn = mult(labels)
    return IntegerStudent(
        emb=rng.integers(-127, 128, (vocab, embed), dtype=np.int8),
        fwd=direction(),
        bwd=direction(),
        head_w=rng.integers(-127, 128, (labels, 2 * hidden), dtype=np.int8),
        head_b=rng.integers(-5000, 5000, labels).astype(np.int32),
        head_m=hm,
        head_n=hn,
        labels=tuple(["运输中", "紧急", "ok", "x"][:labels]),
        max_len=8,
        input_scale=0.01,
    )


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    shapes = [(16, 1, 1, 2), (16, 3, 2, 3), (20, 4, 3, 4)]
    for i, (v, e, h, c) in enumerate(shapes):
        model = tiny_model(i, v, e, h, c)
        (out / f"seed{i}.blob").write_bytes(write_blob(model, model_version=i + 1))
        (out / f"seed{i}-nostst.blob").write_bytes(write_blob(model, i + 1, selftest=[]))
    # tokenizer version 2 (hash embedding: K = 2 rows, 3 importance buckets), mean+max pooling
    model = tiny_model(7, 16, 3, 2, 3)
    em, en = encode_multiplier(np.array([0.2]))
    v2 = replace(model, pooling=1, hashes=2, emb_m=int(em[0]), emb_n=int(en[0]),
                 importance=np.array([[1, 2], [-3, 4], [5, -6]], dtype=np.int8),
                 head_w=np.ones((3, 8), dtype=np.int8))  # fmt: skip
    (out / "seed-v2.blob").write_bytes(write_blob(v2, model_version=9))
    # with a tagging section (one entity type: K = 3 tags over 2H = 4 states)
    rng = np.random.default_rng(11)
    tm, tn = encode_multiplier(rng.uniform(0.5, 4.0, size=3))
    tagger = IntegerTagger(
        w=rng.integers(-127, 128, (3, 4), dtype=np.int8),
        b=rng.integers(-500, 500, 3).astype(np.int32),
        m=tm,
        n=tn,
        transitions=rng.integers(-4096, 4096, (3, 3)).astype(np.int32),
        start=rng.integers(-4096, 4096, 3).astype(np.int32),
        end=rng.integers(-4096, 4096, 3).astype(np.int32),
        entity_types=("ID",),
    )
    (out / "seed-tagged.blob").write_bytes(write_blob(model, model_version=10, tagger=tagger))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
