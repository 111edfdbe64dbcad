"""Throughput of the Python tokenizer (the reference; devices run the C port) and of the
augmentation, on the synthetic corpus's phase-0 train split.

    python -m benchmarks.tokenizer_speed
"""

from __future__ import annotations

import json
import time


def main() -> int:
    from models.data.augment import augment_corpus
    from models.data.synth import SynthConfig, synth_examples
    from models.tokenizer import Tokenizer, key_id

    examples = synth_examples(SynthConfig(seed=0, phases=1), 0, "train")
    texts = [e.text for e in examples]
    data = [t.encode("utf-8") for t in texts]
    tokenizer = Tokenizer()
    key_id.cache_clear()
    started = time.perf_counter()
    ids = [tokenizer.encode(d) for d in data]
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    augmented = augment_corpus(examples[:1000], 5, seed=0)
    augment_seconds = time.perf_counter() - started
    result = {
        "benchmark": "tokenizer_speed",
        "messages": len(texts),
        "bytes": sum(len(d) for d in data),
        "tokens": sum(len(i) for i in ids),
        "encode_seconds": round(seconds, 3),
        "messages_per_second": round(len(texts) / seconds),
        "megabytes_per_second": round(sum(len(d) for d in data) / seconds / 1e6, 3),
        "augment_texts": len(augmented),
        "augment_texts_per_second": round(len(augmented) / augment_seconds),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
