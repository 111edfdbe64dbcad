"""Metrics checked against scikit-learn on random data; unknown labels; confusion CSV."""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from models.errors import DataError
from models.evaluate import (
    compute_metrics,
    confusion_matrix,
    evaluate_examples,
    expected_calibration_error,
    integer_metrics,
    macro_f1,
    write_confusion_csv,
)
from models.student import StudentConfig, TinyLSTM


@dataclass(frozen=True)
class Ex:
    text: str
    label: str


class CharCodes:
    def encode(self, text: str | bytes) -> list[int]:
        return [2 + (ord(ch) % 60) for ch in str(text)][:16]


def random_predictions(seed: int, n: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, c, size=n)
    logits = rng.normal(size=(n, c)) * 2
    logits[np.arange(n), y_true] += rng.normal(1.0, 1.0, size=n)  # better than chance
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y_true, probs


def reference_ece(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """The textbook loop (Guo et al. 2017): bins (lo, hi], weighted |acc - conf|."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return total


@pytest.mark.parametrize("seed", range(6))
def test_metrics_match_sklearn(seed: int) -> None:
    c = 2 + seed
    y_true, probs = random_predictions(seed, n=300 + 50 * seed, c=c)
    y_pred = probs.argmax(axis=1)
    report = compute_metrics(y_true, probs, [f"l{k}" for k in range(c)])
    assert report.accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert report.macro_f1 == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(c)), zero_division=0
    )
    np.testing.assert_allclose(report.precision, p)
    np.testing.assert_allclose(report.recall, r)
    np.testing.assert_allclose(report.f1, f)
    assert report.support == s.tolist()
    np.testing.assert_array_equal(
        report.confusion, skm.confusion_matrix(y_true, y_pred, labels=list(range(c)))
    )
    assert report.ece == pytest.approx(reference_ece(probs, y_true))


def test_macro_f1_ignores_classes_absent_from_truth_and_predictions() -> None:
    y_true = np.array([0, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 0])
    # Class 2 and 3 never occur: sklearn without labels= averages over {0, 1} only.
    assert macro_f1(y_true, y_pred, 4) == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro")
    )
    # A class that is predicted but never true counts (with F1 0), as in sklearn.
    y_pred2 = np.array([0, 2, 1, 1, 0])
    assert macro_f1(y_true, y_pred2, 4) == pytest.approx(
        skm.f1_score(y_true, y_pred2, average="macro", zero_division=0)
    )


def test_ece_extremes() -> None:
    y = np.array([0, 1, 1, 0])
    perfect = np.eye(2)[y]
    assert expected_calibration_error(perfect, y) == 0.0
    wrong = np.eye(2)[1 - y]
    assert expected_calibration_error(wrong, y) == pytest.approx(1.0)
    half = np.full((4, 2), 0.5)  # confidence 0.5, accuracy 0.5 (ties go to class 0)
    assert expected_calibration_error(half, y) == pytest.approx(0.0)


def test_confusion_rows_are_truth() -> None:
    m = confusion_matrix(np.array([0, 0, 2]), np.array([1, 0, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]


def test_evaluate_examples_counts_unknown_labels(tmp_path) -> None:
    torch.manual_seed(0)
    model = TinyLSTM(StudentConfig(num_labels=2, vocab_size=64, embed_dim=8, hidden=8))
    examples = [Ex("abc", "a"), Ex("", "b"), Ex("xyz", "zz"), Ex("q", "zz"), Ex("r", "yy")]
    report = evaluate_examples(model, ["a", "b"], CharCodes(), examples)
    assert report.n == 2
    assert report.unknown_labels == {"zz": 2, "yy": 1}
    assert report.to_dict()["unknown_label_count"] == 3
    assert sum(map(sum, report.confusion)) == 2
    with pytest.raises(DataError, match="no examples"):
        evaluate_examples(model, ["a", "b"], CharCodes(), [Ex("x", "zz")])

    path = write_confusion_csv(report, tmp_path / "c.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["true\\predicted", "a", "b"]
    assert [r[0] for r in rows[1:]] == ["a", "b"]
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == report.confusion


def test_cli_eval_json_table_and_confusion(tmp_path) -> None:
    from typer.testing import CliRunner

    from models.student import save_student
    from services.cli import build_app

    torch.manual_seed(0)
    model = TinyLSTM(StudentConfig(num_labels=2, embed_dim=8, hidden=8))
    save_student(model, ["运输中", "紧急"], tmp_path / "m")
    rows = [("运输中 dh2023", "运输中"), ("预警 紧急", "紧急"), ("x", "已签收"), ("y", "运输中")]
    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(
            json.dumps({"text": t, "label": lab}, ensure_ascii=False) + "\n" for t, lab in rows
        ),
        encoding="utf-8",
    )
    base = ["eval", "--model", str(tmp_path / "m"), "--data", str(data)]
    result = CliRunner().invoke(
        build_app(), [*base, "--json", "--confusion", str(tmp_path / "c.csv")]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["n"] == 3
    assert metrics["unknown_labels"] == {"已签收": 1}
    assert set(metrics["per_class"]) == {"运输中", "紧急"}
    with (tmp_path / "c.csv").open(encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == ["true\\predicted", "运输中", "紧急"]

    table = CliRunner().invoke(build_app(), base)
    assert table.exit_code == 0, table.output
    assert "macro-F1" in table.output and "skipped" in table.output

    missing = CliRunner().invoke(
        build_app(), ["eval", "--model", str(tmp_path), "--data", str(data)]
    )
    assert missing.exit_code == 1
    assert "model.safetensors" in missing.output


@pytest.mark.parametrize(
    ("overrides", "has_blob"),
    [({}, True), ({"hashes": 1, "buckets": 0}, True), ({"pooling": "meanmax"}, True),
     ({"pooling": "attention"}, None)],
)  # fmt: skip
def test_integer_metrics_sizes_the_blob_of_every_integer_model(overrides, has_blob) -> None:
    torch.manual_seed(0)
    config = StudentConfig(num_labels=2, vocab_size=64, embed_dim=8, hidden=8, **overrides)
    model = TinyLSTM(config)
    examples = [Ex("abc", "a"), Ex("xy", "b"), Ex("q", "a")]
    result = integer_metrics(model, ["a", "b"], config.tokenizer(), examples)
    if has_blob is None:  # no integer kernel for this pooling
        assert result is None
        return
    assert result is not None and 0.0 <= result["accuracy"] <= 1.0
    assert has_blob and result["blob_bytes"] > 0
