"""Accuracy against the truth: the synthetic corpus has gold labels, so the demo can say
whether the fleet got better or only learned to agree with its teacher.

- :func:`release_accuracy`: each release's blob on each phase's test set, classified by the
  firmware's C engine (``libtinylstm.so``, provisioned like a device), so the numbers are
  the devices' own, for phases the fleet no longer sees too (forgetting);
- :func:`live_accuracy`: the fleet's predictions in ``fleet.predictions`` against the gold
  label of their text, per traffic phase and release (what the devices actually got right);
- :func:`teacher_accuracy`: the teacher's labels in ``distill.labeled`` against gold, per
  phase; and, for a model teacher, its accuracy on each phase's test set
  (:func:`teacher_test_accuracy`, cached next to the teacher).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from services.errors import ServiceError


@dataclass
class Tally:
    correct: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.correct += int(ok)
        self.total += 1

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None


@dataclass
class GoldReport:
    releases: dict[int, dict[int, float]] = field(default_factory=dict)  # version -> phase -> acc
    live: dict[tuple[int, int], Tally] = field(default_factory=dict)  # (phase, version)
    teacher: dict[int, Tally] = field(default_factory=dict)  # phase -> teacher labels vs gold
    teacher_test: dict[int, float] = field(default_factory=dict)  # phase -> test accuracy


def test_sets(corpus: Path, phases: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """(text, gold label) of each phase's ``test.jsonl``."""
    out = {}
    for phase in phases:
        lines = (corpus / f"phase{phase}" / "test.jsonl").read_text("utf-8").splitlines()
        out[phase] = [(row["text"], row["label"]) for row in map(json.loads, lines)]
    return out


def release_accuracy(blob: bytes, tests: dict[int, list[tuple[str, str]]]) -> dict[int, float]:
    """Accuracy of ``blob`` on each phase's test set, on the C engine."""
    from edge_agent.clib import CDevice
    from edge_agent.errors import EdgeError
    from models.blob import read_blob

    try:
        device = CDevice()
        device.provision(blob, read_blob(blob).model_version)
        return {
            phase: sum(device.classify(text, 1).label == gold for text, gold in rows) / len(rows)
            for phase, rows in tests.items()
            if rows
        }
    except (EdgeError, ValueError) as exc:
        raise ServiceError(f"cannot score the release on the C engine: {exc}") from exc


def live_accuracy(
    predictions: Iterable[tuple[str, int, str, float]],
    gold: dict[str, str],
    phase_of: Callable[[float], int],
) -> dict[tuple[int, int], Tally]:
    """(text, model version, predicted label, ts) of each distinct prediction -> tallies per
    (traffic phase, release)."""
    out: dict[tuple[int, int], Tally] = {}
    for text, version, label, ts in predictions:
        if text in gold:
            out.setdefault((phase_of(ts), version), Tally()).add(label == gold[text])
    return out


def teacher_accuracy(
    labeled: Iterable[tuple[str, str, float]],
    gold: dict[str, str],
    phase_of: Callable[[float], int],
) -> dict[int, Tally]:
    """(text, teacher label, ts of the prediction) of each labeled sample -> per phase."""
    out: dict[int, Tally] = {}
    for text, label, ts in labeled:
        if text in gold:
            out.setdefault(phase_of(ts), Tally()).add(label == gold[text])
    return out


def teacher_test_accuracy(
    folder: Path, tests: dict[int, list[tuple[str, str]]]
) -> dict[int, float]:
    """A fine-tuned teacher folder's accuracy on each test set (cached in the folder)."""
    texts = [text for rows in tests.values() for text, _ in rows]
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
    cache = folder / f"demo-test-accuracy-{digest}.json"
    if cache.is_file():
        return {int(k): v for k, v in json.loads(cache.read_text()).items()}
    from models.teacher import Teacher

    teacher = Teacher(folder, max_length=128)
    teacher.eval()
    names = teacher.label_names
    out = {}
    for phase, rows in tests.items():
        probs = teacher.predict_proba([t for t, _ in rows], 32)
        predicted = [names[k] for k in probs.argmax(dim=1).tolist()]
        out[phase] = sum(p == g for p, (_, g) in zip(predicted, rows, strict=True)) / len(rows)
    cache.write_text(json.dumps(out))
    return out


def report(
    releases_root: Path,
    versions: list[int],
    corpus: Path,
    phases: tuple[int, ...],
    live: dict[tuple[int, int], Tally],
    teacher_live: dict[int, Tally],
    teacher: str,
) -> GoldReport:
    """Every release of the run on every phase's test set, the fleet's and the teacher's
    live accuracy, and a model teacher's test accuracy."""
    from services.releases.store import ReleaseStore

    tests = test_sets(corpus, phases)
    store = ReleaseStore(releases_root)
    out = GoldReport(live=live, teacher=teacher_live)
    for version in versions:
        out.releases[version] = release_accuracy(store.blob(version), tests)
    if Path(teacher).is_dir():
        out.teacher_test = teacher_test_accuracy(Path(teacher), tests)
    return out
