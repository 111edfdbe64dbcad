"""Classification metrics for the student: accuracy, macro-F1, per-class P/R/F1, ECE, confusion.

The metrics are a few lines of numpy each (checked against scikit-learn in the tests); they are
written here so the training loop, the distiller's release gate and the CLI all share one
definition, including the project's conventions: macro-F1 averages over the classes that occur
in the true or predicted labels (scikit-learn's default), a class with no predictions or no
support scores 0, and ECE uses 15 equal-width confidence bins ``(k/15, (k+1)/15]``.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from models.batching import Encoder, pad_ids
from models.errors import DataError
from models.student import TinyLSTM

ECE_BINS = 15


class LabeledText(Protocol):
    """A text with its gold label (``models.data.Example`` is one)."""

    @property
    def text(self) -> str: ...

    @property
    def label(self) -> str: ...


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_labels: int) -> np.ndarray:
    """Counts ``[C, C]``: row = true class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    assert y_true.shape == y_pred.shape, f"{y_true.shape} true vs {y_pred.shape} predicted"
    flat = y_true * num_labels + y_pred  # [N]: cell index in the row-major matrix
    return np.bincount(flat, minlength=num_labels * num_labels).reshape(num_labels, num_labels)


def precision_recall_f1(confusion: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-class ``(precision, recall, f1, support)`` from a confusion matrix; 0 if undefined."""
    tp = np.diag(confusion).astype(np.float64)  # [C]
    predicted = confusion.sum(axis=0).astype(np.float64)  # [C]
    support = confusion.sum(axis=1)  # [C]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    return precision, recall, f1, support


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_labels: int) -> float:
    """Mean F1 over the classes that occur in ``y_true`` or ``y_pred``."""
    confusion = confusion_matrix(y_true, y_pred, num_labels)
    _, _, f1, _ = precision_recall_f1(confusion)
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0  # [C]
    return float(f1[present].mean()) if present.any() else 0.0


def expected_calibration_error(
    probs: np.ndarray, y_true: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins ``(lo, hi]``."""
    probs = np.asarray(probs, dtype=np.float64)
    assert probs.ndim == 2, f"probs must be [N, C], got shape {probs.shape}"
    confidence = probs.max(axis=1)  # [N]
    correct = (probs.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)  # [N]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted(side="left") on the inner edges puts a value equal to an edge in the lower
    # bin, i.e. bin k holds (edges[k], edges[k+1]]; confidence 0 falls into bin 0.
    bins = np.searchsorted(edges[1:-1], confidence, side="left")  # [N] in 0..n_bins-1
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    gap = np.abs(acc_sum - conf_sum)  # [n_bins]: n_b * |acc_b - conf_b|
    return float(gap.sum() / max(len(confidence), 1))


@dataclass(frozen=True)
class EvalReport:
    labels: list[str]  # the model's label names, index = class id
    n: int  # examples scored (labels known to the model)
    accuracy: float
    macro_f1: float
    ece: float  # expected calibration error, 15 bins
    precision: list[float]  # per class, in ``labels`` order
    recall: list[float]
    f1: list[float]
    support: list[int]
    confusion: list[list[int]]  # [C][C], row = true, column = predicted
    unknown_labels: dict[str, int] = field(default_factory=dict)  # skipped: label not in model

    @property
    def unknown_count(self) -> int:
        return sum(self.unknown_labels.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "ece": self.ece,
            "per_class": {
                label: {
                    "precision": self.precision[k],
                    "recall": self.recall[k],
                    "f1": self.f1[k],
                    "support": self.support[k],
                }
                for k, label in enumerate(self.labels)
            },
            "unknown_label_count": self.unknown_count,
            "unknown_labels": dict(self.unknown_labels),
            "labels": list(self.labels),
            "confusion": self.confusion,
        }


def compute_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    labels: Sequence[str],
    unknown_labels: dict[str, int] | None = None,
) -> EvalReport:
    """All metrics from gold class ids ``[N]`` and predicted probabilities ``[N, C]``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    num_labels = len(labels)
    assert probs.shape == (len(y_true), num_labels), (
        f"probs {probs.shape} do not match {len(y_true)} examples x {num_labels} labels"
    )
    if len(y_true) == 0:
        raise DataError("no examples to evaluate (none has a label the model knows)")
    y_pred = probs.argmax(axis=1)  # [N]
    confusion = confusion_matrix(y_true, y_pred, num_labels)
    precision, recall, f1, support = precision_recall_f1(confusion)
    return EvalReport(
        labels=list(labels),
        n=len(y_true),
        accuracy=float((y_pred == y_true).mean()),
        macro_f1=macro_f1(y_true, y_pred, num_labels),
        ece=expected_calibration_error(probs, y_true),
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
        support=support.astype(int).tolist(),
        confusion=confusion.astype(int).tolist(),
        unknown_labels=dict(unknown_labels or {}),
    )


@torch.no_grad()
def predict_proba_ids(
    model: TinyLSTM, sequences: Sequence[Sequence[int]], batch_size: int = 256
) -> np.ndarray:
    """Softmax probabilities ``[N, C]`` for already tokenized sequences (model in eval mode)."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(sequences), batch_size):
        ids, lengths = pad_ids(sequences[start : start + batch_size])
        out.append(torch.softmax(model(ids, lengths), dim=-1).numpy())
    model.train(was_training)
    if not out:
        return np.zeros((0, model.config.num_labels))
    return np.concatenate(out, axis=0).astype(np.float64)


def evaluate_examples(
    model: TinyLSTM,
    labels: Sequence[str],
    tokenizer: Encoder,
    examples: Sequence[LabeledText],
    batch_size: int = 256,
) -> EvalReport:
    """Score ``examples``; those whose label the model does not know are counted and skipped."""
    index = {label: k for k, label in enumerate(labels)}
    known = [ex for ex in examples if ex.label in index]
    unknown = Counter(ex.label for ex in examples if ex.label not in index)
    probs = predict_proba_ids(model, [tokenizer.encode(ex.text) for ex in known], batch_size)
    y_true = np.array([index[ex.label] for ex in known], dtype=np.int64)
    return compute_metrics(y_true, probs, labels, dict(unknown))


def integer_metrics(
    model: TinyLSTM, labels: Sequence[str], tokenizer: Encoder, examples: Sequence[LabeledText]
) -> dict[str, Any] | None:
    """Accuracy and macro-F1 of the device's integer engine (``models.intlstm``, the arithmetic
    the C engine reproduces bit for bit) on ``examples``, and the model blob's size (format 3
    carries every embedding and integer pooling); ``None`` for a pooling the integer engine
    does not implement."""
    from models.blob import write_blob
    from models.intlstm import INTEGER_POOLINGS, integer_logits
    from models.quantize import quantize_student

    if model.config.pooling not in INTEGER_POOLINGS:
        return None
    integer = quantize_student(model, labels)
    index = {label: k for k, label in enumerate(labels)}
    known = [ex for ex in examples if ex.label in index]
    pred = integer_logits(integer, [tokenizer.encode(ex.text) for ex in known]).argmax(1)
    y = np.array([index[ex.label] for ex in known], dtype=np.int64)
    return {
        "accuracy": float(np.mean(pred == y)) if len(y) else 0.0,
        "macro_f1": macro_f1(y, pred, len(labels)),
        "blob_bytes": len(write_blob(integer, model_version=1)),
    }


def write_confusion_csv(report: EvalReport, path: str | Path) -> Path:
    """Confusion matrix as CSV: header ``true\\predicted,<labels...>``, one row per true label."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["true\\predicted", *report.labels])
        for label, row in zip(report.labels, report.confusion, strict=True):
            writer.writerow([label, *row])
    return out
