"""One batch of label requests, without Kafka: which requests are new, what the teacher made
of each, and what becomes of those it gave no label for.

A request the teacher cannot label (an LLM that never answers with a label, a text that breaks
the model) fails alone (:meth:`Labeler.label_each`) and is tried again in a later batch; after
``max_attempts`` failed tries it becomes a :class:`LabelDeadLetter` with the last reason, so
one text never holds up the others. When no request of a batch got a label and every failure
was the teacher being unreachable, that is an outage, not the requests' fault: nothing is
counted against them. No text is started after the batch's deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from contract.errors import ValidationError
from contract.schemas import LabelDeadLetter, LabeledSample, LabelRequest, parse_label_request
from services.labeler.metrics import LabelerMetrics
from services.labeler.teacher import Labeler, LabelFailure, TeacherLabel

log = logging.getLogger(__name__)


def request_key(request: LabelRequest) -> str:
    """What identifies a request for deduplication: the message id within its device ("/" is
    in neither), so one device cannot pre-empt another's (predictable) ids."""
    return f"{request.device_id}/{request.message_id}"


def sample_key(sample: LabeledSample) -> str:
    return f"{sample.request.device_id}/{sample.message_id}"


def new_requests(
    raw_values: Iterable[bytes], seen: set[str], metrics: LabelerMetrics
) -> list[tuple[int, LabelRequest]]:
    """Parse a polled batch; drop invalid records and requests labeled (or dead-lettered)
    before or twice here. Each kept request with its index in ``raw_values``."""
    fresh: dict[str, tuple[int, LabelRequest]] = {}
    for index, raw in enumerate(raw_values):
        try:
            request = parse_label_request(raw)
        except ValidationError as exc:
            metrics.skipped.labels("invalid").inc()
            log.warning("skipping invalid label request: %s", exc.reason)
            continue
        key = request_key(request)
        if key in seen or key in fresh:
            metrics.skipped.labels("duplicate").inc()
            continue
        fresh[key] = (index, request)
    return list(fresh.values())


@dataclass
class Attempts:
    """Failed tries per request, in memory (a restart gives each request its tries again)."""

    max_attempts: int
    counts: dict[str, int] = field(default_factory=dict)

    def fail(self, key: str) -> int:
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]

    def forget(self, key: str) -> None:
        self.counts.pop(key, None)


@dataclass(frozen=True)
class BatchOutcome:
    samples: list[LabeledSample]  # labeled: produce to distill.labeled
    dead: list[LabelDeadLetter]  # out of tries: produce to the labeling dead-letter topic
    retry: list[LabelRequest]  # failed or not tried: read again in a later batch
    outage: bool = False  # the teacher was unreachable for the whole batch


def label_batch(
    requests: list[LabelRequest],
    labeler: Labeler,
    metrics: LabelerMetrics,
    attempts: Attempts,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> BatchOutcome:
    """Label ``requests``; never raises for a request the teacher gives no label for."""
    if not requests:
        return BatchOutcome([], [], [])
    started = time.perf_counter()
    results = labeler.label_each([r.text for r in requests], deadline, clock)
    metrics.batch_seconds.observe(time.perf_counter() - started)
    now = time.time()
    samples: list[LabeledSample] = []
    failed: list[tuple[LabelRequest, LabelFailure]] = []
    retry: list[LabelRequest] = []
    for request, result in zip(requests, results, strict=True):
        if isinstance(result, TeacherLabel):
            samples.append(_sample(request, result, labeler.teacher_id, now))
            attempts.forget(request_key(request))
        elif isinstance(result, LabelFailure):
            failed.append((request, result))
        else:
            retry.append(request)  # the deadline came first; not an attempt
    outage = bool(failed) and not samples and all(f.outage for _, f in failed)
    if outage:
        metrics.failures.labels("outage").inc()
        log.warning("teacher unreachable for a batch of %d: %s", len(failed), failed[0][1].reason)
        return BatchOutcome(samples, [], [r for r, _ in failed] + retry, outage=True)
    dead: list[LabelDeadLetter] = []
    for request, failure in failed:
        key = request_key(request)
        tries = attempts.fail(key)
        metrics.failures.labels("teacher").inc()
        if tries < attempts.max_attempts:
            retry.append(request)
            continue
        attempts.forget(key)
        log.warning("no label for %s after %d tries: %s", key, tries, failure.reason)
        dead.append(
            LabelDeadLetter(
                request=request, reason=failure.reason or "no reason given", attempts=tries,
                teacher_id=labeler.teacher_id, failed_at=now,
            )
        )  # fmt: skip
    return BatchOutcome(samples, dead, retry)


def _sample(
    request: LabelRequest, label: TeacherLabel, teacher_id: str, now: float
) -> LabeledSample:
    return LabeledSample(
        message_id=request.message_id,
        text=request.text,
        teacher_probs=label.probs,
        label=label.label,
        teacher_id=teacher_id,
        request=request.meta(),
        labeled_at=now,
    )
