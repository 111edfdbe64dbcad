"""Teachers of the benchmark: what the labeler would answer for a text.

- :class:`FinetunedTeacher`: a fine-tuned transformer teacher folder (``fleet teacher
  finetune``), its softmax probabilities cached on disk per text (``<folder>/probs-cache``)
  so that every strategy and every rerun asks it once per text. :func:`finetuned_teacher`
  fine-tunes e5-small on a data set's training split until its validation accuracy stops
  improving (``models.teacher.finetune`` defaults; cached, resumable).
- :class:`RoutedTeacher`: one teacher per data set of a bilingual scenario, chosen by the
  text's script (CJK characters: the Chinese set's teacher), probabilities over the union of
  their labels.
- :class:`OracleTeacher`: the gold label at probability ``confidence``, the rest spread
  evenly: a stand-in for test-sized runs (no model to load).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from models.data.record import Example


class BenchTeacher(Protocol):
    teacher_id: str
    labels: list[str]  # column order of probs()

    def probs(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, C]`` probabilities over ``labels``."""
        ...


class OracleTeacher:
    def __init__(self, examples: Sequence[Example], confidence: float = 0.9) -> None:
        self.gold = {e.text: e.label for e in examples}
        self.labels = sorted(set(self.gold.values()))
        self.confidence = confidence
        self.teacher_id = f"oracle(p={confidence})"

    def probs(self, texts: Sequence[str]) -> np.ndarray:
        c = len(self.labels)
        out = np.full((len(texts), c), (1 - self.confidence) / (c - 1), dtype=np.float64)
        index = {label: k for k, label in enumerate(self.labels)}
        for row, text in enumerate(texts):
            out[row, index[self.gold[text]]] = self.confidence
        return out


class FinetunedTeacher:
    """A fine-tuned teacher folder; probabilities cached per text in a jsonl file."""

    def __init__(self, folder: Path, batch_size: int = 32) -> None:
        from models.teacher.classifier import FinetunedLayout, load_head

        self.folder = Path(folder)
        _, self.labels = load_head(FinetunedLayout(self.folder))
        digest = hashlib.sha256((self.folder / "head.safetensors").read_bytes()).hexdigest()[:10]
        self.teacher_id = f"{self.folder.name}@{digest}"
        self.batch_size = batch_size
        self.cache_path = self.folder / "probs-cache.jsonl"
        self.cache: dict[str, list[float]] = {}
        if self.cache_path.is_file():
            for line in self.cache_path.read_text("utf-8").splitlines():
                row = json.loads(line)
                self.cache[row["text"]] = row["probs"]
        self._model = None
        self.seconds = 0.0  # spent labeling (cache misses only)

    def probs(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            started = time.perf_counter()
            if self._model is None:
                from models.teacher import Teacher

                self._model = Teacher(self.folder, max_length=128)
                self._model.eval()
            with self.cache_path.open("a", encoding="utf-8") as f:
                for start in range(0, len(missing), 256):
                    chunk = missing[start : start + 256]
                    rows = self._model.predict_proba(chunk, self.batch_size).tolist()
                    for text, row in zip(chunk, rows, strict=True):
                        self.cache[text] = [round(p, 6) for p in row]
                        f.write(json.dumps({"text": text, "probs": self.cache[text]},
                                           ensure_ascii=False) + "\n")  # fmt: skip
            self.seconds += time.perf_counter() - started
        return np.array([self.cache[t] for t in texts], dtype=np.float64)


def accuracy(teacher: BenchTeacher, examples: Sequence[Example]) -> float:
    if not examples:
        return float("nan")
    probs = teacher.probs([e.text for e in examples])
    predicted = [teacher.labels[k] for k in probs.argmax(axis=1)]
    return float(np.mean([p == e.label for p, e in zip(predicted, examples, strict=True)]))


def finetuned_teacher(
    name: str, train: Sequence[Example], valid: Sequence[Example], root: Path
) -> Path:
    """e5-small with a classification head fine-tuned on ``train`` with early stopping on
    ``valid`` (``models.teacher.finetune`` defaults, as ``fleet teacher finetune --valid``);
    cached under ``root`` by the data's digest; an interrupted run resumes."""
    from models.data.loaders import example_record, write_jsonl
    from models.teacher.finetune import FinetuneConfig, finetune

    digest = hashlib.sha256(
        "\n".join(f"{e.label}\t{e.text}" for e in [*train, *valid]).encode()
    ).hexdigest()[:10]
    out = root / f"teacher-{name}-{digest}"
    if (out / "teacher.json").is_file():
        return out
    data = root / f"teacher-{name}-{digest}-train.jsonl"
    write_jsonl(data, (example_record(e) for e in train))
    finetune(data, out, FinetuneConfig(), progress=False, valid=list(valid))
    for scratch in ("checkpoints", "best"):  # ~600 MB each, only needed to resume
        shutil.rmtree(out / scratch, ignore_errors=True)
    data.unlink()
    return out


CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class RoutedTeacher:
    """``teachers[route(text)]`` answers; columns are the union of their labels."""

    def __init__(self, teachers: dict[str, FinetunedTeacher], cjk: str, other: str) -> None:
        self.teachers, self.cjk, self.other = teachers, cjk, other
        self.labels = sorted({label for t in teachers.values() for label in t.labels})
        ids = ", ".join(f"{k}={t.teacher_id}" for k, t in sorted(teachers.items()))
        self.teacher_id = f"routed({ids})"

    def route(self, text: str) -> str:
        return self.cjk if CJK.search(text) else self.other

    def probs(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        column = {label: k for k, label in enumerate(self.labels)}
        for name, teacher in self.teachers.items():
            rows = [i for i, t in enumerate(texts) if self.route(t) == name]
            if rows:
                probs = teacher.probs([texts[i] for i in rows])
                cols = [column[label] for label in teacher.labels]
                out[np.ix_(rows, cols)] = probs
        return out
