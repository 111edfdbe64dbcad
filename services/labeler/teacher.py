"""The labeler's view of a teacher: a batch of texts in, class probabilities out.

:class:`Labeler` is the small abstract base the service depends on. :class:`TeacherLabeler`
adapts the project's transformer teacher (``models.teacher``), :class:`LlmLabeler` an LLM
behind a chat-completions endpoint (``models.teacher.llm``); :class:`KeywordLabeler` is the
in-memory double for tests and for running the pipeline without teacher weights.
"""

from __future__ import annotations

import hashlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.errors import ConfigError
from services.errors import ServiceError


class LabelerError(ServiceError):
    """The teacher gave no label for a text or batch; ``outage`` when the teacher itself was
    unreachable rather than unable to label the text."""

    def __init__(self, message: str, outage: bool = False) -> None:
        super().__init__(message)
        self.outage = outage


@dataclass(frozen=True)
class TeacherLabel:
    probs: dict[str, float]  # every class, sums to 1
    label: str  # argmax of probs


@dataclass(frozen=True)
class LabelFailure:
    """Why the teacher gave no label for one text (e.g. an LLM that never answers with one);
    ``outage`` when the teacher itself was unreachable (timeouts, connection errors, 5xx)."""

    reason: str
    outage: bool = False


# One text's result: its label, why it has none, or None when it was not tried before the
# batch's deadline.
LabelResult = TeacherLabel | LabelFailure | None


class Labeler(ABC):
    """Labels texts with a teacher."""

    @property
    @abstractmethod
    def teacher_id(self) -> str:
        """Names the teacher and its weights; stored with every label."""

    @abstractmethod
    def label(self, texts: Sequence[str]) -> list[TeacherLabel]:
        """Called once per consumed batch (1..batch_size texts), on the service thread.

        Returns one label per text, in order. Raises :class:`LabelerError` when the teacher
        cannot label the batch.
        """

    def label_each(
        self,
        texts: Sequence[str],
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> list[LabelResult]:
        """One result per text, never an exception for a text: the batch in one call, and when
        that fails each text alone, so one text the teacher cannot label fails alone. No text
        is started once ``clock()`` reached ``deadline`` (those are None)."""
        if clock() >= deadline:
            return [None] * len(texts)
        try:
            return list(self.label(texts))
        except LabelerError as exc:
            if len(texts) == 1:
                return [failure(exc)]
        return self.one_by_one(texts, deadline, clock)

    def one_by_one(
        self, texts: Sequence[str], deadline: float, clock: Callable[[], float]
    ) -> list[LabelResult]:
        out: list[LabelResult] = []
        for text in texts:
            if clock() >= deadline:
                out.append(None)
                continue
            try:
                out.append(self.label([text])[0])
            except LabelerError as exc:
                out.append(failure(exc))
        return out


def failure(exc: LabelerError) -> LabelFailure:
    return LabelFailure(str(exc)[:500], outage=exc.outage)


def _from_probs(names: Sequence[str], row: Sequence[float]) -> TeacherLabel:
    total = math.fsum(row)
    probs = {name: float(p) / total for name, p in zip(names, row, strict=True)}
    return TeacherLabel(probs=probs, label=max(probs, key=probs.__getitem__))


def softmax(logits: Sequence[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = math.fsum(exps)
    return [e / total for e in exps]


class KeywordLabeler(Labeler):
    """Deterministic stand-in: a class whose keyword occurs in the text wins, otherwise a
    hash of the text picks one; the winner gets ``confidence`` and the rest share the rest."""

    def __init__(
        self,
        labels: Sequence[str],
        keywords: Mapping[str, Sequence[str]] | None = None,
        confidence: float = 0.8,
    ) -> None:
        if len(labels) < 2:
            raise ConfigError("KeywordLabeler needs at least two labels")
        if not 1 / len(labels) < confidence < 1:
            raise ConfigError(f"confidence must be in (1/{len(labels)}, 1), got {confidence}")
        unknown = set(keywords or {}) - set(labels)
        if unknown:
            raise ConfigError(
                f"keywords for unknown labels {sorted(unknown)}; valid: {list(labels)}"
            )
        self.labels = list(labels)
        self.keywords = {k: list(v) for k, v in (keywords or {}).items()}
        self.confidence = confidence

    @property
    def teacher_id(self) -> str:
        return "keyword-double"

    def _pick(self, text: str) -> str:
        for label, words in self.keywords.items():
            if any(w in text for w in words):
                return label
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        return self.labels[digest[0] % len(self.labels)]

    def label(self, texts: Sequence[str]) -> list[TeacherLabel]:
        rest = (1 - self.confidence) / (len(self.labels) - 1)
        out = []
        for text in texts:
            winner = self._pick(text)
            row = [self.confidence if name == winner else rest for name in self.labels]
            out.append(_from_probs(self.labels, row))
        return out


LOGISTICS_KEYWORDS: dict[str, list[str]] = {
    "运输中": ["运输", "状态更新", "在途"],
    "已签收": ["签收", "代收"],
    "紧急": ["预警", "紧急", "加急"],
    "异常": ["失败", "异常", "破损"],
}


class TeacherLabeler(Labeler):
    """Adapter to ``models.teacher.Teacher`` (fine-tuned, with a classification head): or
    anything with ``label_names`` (or ``labels``) and ``predict_proba(texts)`` (or
    ``logits(texts)``) returning one row per text. Batching inside the teacher is its own
    business."""

    def __init__(self, teacher: Any, teacher_id: str) -> None:
        names = getattr(teacher, "label_names", None) or getattr(teacher, "labels", None)
        if not names:
            raise ConfigError("the teacher exposes no label_names; fine-tune it on labels first")
        if not (hasattr(teacher, "predict_proba") or hasattr(teacher, "logits")):
            raise ConfigError("the teacher has neither predict_proba(texts) nor logits(texts)")
        if hasattr(teacher, "eval"):
            teacher.eval()  # an nn.Module: no dropout while labeling
        self._teacher = teacher
        self._names = list(names)
        self._id = teacher_id

    @property
    def teacher_id(self) -> str:
        return self._id

    def label(self, texts: Sequence[str]) -> list[TeacherLabel]:
        try:
            if hasattr(self._teacher, "predict_proba"):
                rows = [list(map(float, r)) for r in self._teacher.predict_proba(list(texts))]
            else:
                rows = [softmax(list(map(float, r))) for r in self._teacher.logits(list(texts))]
        except Exception as exc:  # the teacher is third-party code (torch, transformers)
            raise LabelerError(f"teacher failed on a batch of {len(texts)}: {exc}") from exc
        if len(rows) != len(texts):
            raise LabelerError(f"teacher returned {len(rows)} rows for {len(texts)} texts")
        return [_from_probs(self._names, row) for row in rows]


LLM_PREFIX = "llm:"  # teacher = "llm:<base_url>#<model>"


def parse_llm_teacher(spec: str, default_model: str = "deepseek-chat") -> tuple[str, str]:
    """``llm:<base_url>#<model>`` -> (base_url, model); without ``#<model>`` the default."""
    if not spec.startswith(LLM_PREFIX):
        raise ConfigError(f"an LLM teacher is written llm:<base_url>#<model>, got {spec!r}")
    base_url, _, model = spec[len(LLM_PREFIX) :].partition("#")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"the LLM teacher's base URL must start with http:// or https://, got {base_url!r}"
        )
    return base_url, model or default_model


class LlmLabeler(Labeler):
    """Adapter to ``models.teacher.llm.ChatLabeler`` (or any ``models.teacher.llm.Labeler``):
    one chat-completions request per text, strictly parsed and retried there. The LLM answers
    with exactly one label and no scores, so, as in ``fleet teacher label --llm-url``, the
    label is hard: all probability on the answer (``smoothing`` spreads that much evenly over
    every class, for a student that should not learn certainty from an LLM)."""

    def __init__(self, labeler: Any, teacher_id: str, smoothing: float = 0.0) -> None:
        names = list(getattr(labeler, "labels", ()))
        if len(names) < 2 or not hasattr(labeler, "label_many"):
            raise ConfigError("the LLM labeler needs labels (two or more) and label_many(texts)")
        if not 0 <= smoothing < 1:
            raise ConfigError(f"smoothing must be in [0, 1), got {smoothing}")
        self._labeler = labeler
        self._names = names
        self._id = teacher_id
        self._smoothing = smoothing

    @property
    def teacher_id(self) -> str:
        return self._id

    def label_each(
        self,
        texts: Sequence[str],
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> list[LabelResult]:
        return self.one_by_one(texts, deadline, clock)  # one request per text anyway

    def label(self, texts: Sequence[str]) -> list[TeacherLabel]:
        from models.errors import ModelsError
        from models.teacher.llm import RetryableError

        try:
            answers = self._labeler.label_many(list(texts))
        except ModelsError as exc:  # LabelerError: bad replies, timeouts, HTTP errors
            outage = isinstance(exc, RetryableError)  # the endpoint failed, not the text
            raise LabelerError(
                f"LLM failed on a batch of {len(texts)}: {exc}", outage=outage
            ) from exc
        if len(answers) != len(texts):
            raise LabelerError(f"LLM returned {len(answers)} labels for {len(texts)} texts")
        unknown = sorted(set(answers) - set(self._names))
        if unknown:
            raise LabelerError(f"LLM answered {unknown}, not in the label set {self._names}")
        even = self._smoothing / len(self._names)
        rows = [
            [(1 - self._smoothing if name == answer else 0.0) + even for name in self._names]
            for answer in answers
        ]
        return [_from_probs(self._names, row) for row in rows]
