"""How much the synthetic corpus's drift phases hurt a model trained on phase 0.

A char 1-3-gram TF-IDF + logistic-regression classifier (seconds to train, a stand-in for the
student) is trained on phase 0 train and scored on the test split of every phase (labels it
never saw, i.e. phase 2's 拦截, are counted as errors in ``accuracy_all``), next to a model
retrained on that phase's own train split, and on phase 0 with 30 % of the templates held
out of train (test phrasing never seen). Also times corpus generation.

    python -m benchmarks.synth_drift [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def fit(train):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    features = vectorizer.fit_transform([e.text for e in train])
    classifier = LogisticRegression(max_iter=1000, C=10.0)
    classifier.fit(features, [e.label for e in train])
    return vectorizer, classifier


def score(model, test) -> dict[str, float]:
    vectorizer, classifier = model
    predicted = classifier.predict(vectorizer.transform([e.text for e in test]))
    hits = [p == e.label for p, e in zip(predicted, test, strict=True)]
    known = [h for h, e in zip(hits, test, strict=True) if e.label in set(classifier.classes_)]
    return {
        "accuracy_all": round(sum(hits) / len(hits), 4),
        "accuracy_known_labels": round(sum(known) / len(known), 4),
        "unknown_label_share": round(1 - len(known) / len(hits), 4),
    }


def main(argv: list[str] | None = None) -> int:
    from models.data.synth import SynthConfig, generate_phase, to_examples

    parser = argparse.ArgumentParser(prog="python -m benchmarks.synth_drift")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = SynthConfig(seed=args.seed)

    started = time.perf_counter()
    corpus = {p: generate_phase(config, p) for p in range(config.phases)}
    generate_seconds = time.perf_counter() - started
    splits = {p: {s: to_examples(r) for s, r in corpus[p].items()} for p in corpus}

    phase0 = fit(splits[0]["train"])
    phases: list[dict[str, Any]] = []
    for p in corpus:
        own = phase0 if p == 0 else fit(splits[p]["train"])
        phases.append(
            {
                "phase": p,
                "trained_on_phase0": score(phase0, splits[p]["test"]),
                "retrained_on_this_phase": score(own, splits[p]["test"]),
            }
        )
    # Unseen phrasing: 30 % of each phase-0 template group only in valid/test.
    holdout = SynthConfig(seed=args.seed, phases=1, holdout_templates=0.3)
    held = {s: to_examples(r) for s, r in generate_phase(holdout, 0).items()}
    unseen = score(fit(held["train"]), held["test"])
    result = {
        "benchmark": "synth_drift",
        "model": "char_wb 1-3-gram TF-IDF + logistic regression",
        "config": {"seed": config.seed, "train": config.train, "test": config.test},
        "generate_seconds_all_phases": round(generate_seconds, 2),
        "phases": phases,
        "phase0_unseen_templates_holdout_0.3": unseen,
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
