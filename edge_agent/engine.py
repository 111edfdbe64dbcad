"""What the agent needs from the device's model runtime: an A/B slot manager that boots a
model and classifies with it. ``clib.CDevice`` is the real C engine (ctypes);
``memory.MemoryDevice`` is the numpy-reference test double."""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.errors import EngineError
from models.data.spans import decode_tags
from models.tokenizer import Tokenizer

LOGIT_SCALE = 1024.0  # logits are Q.10 (docs/integer-lstm.md)
NO_SLOT = 0xFFFFFFFF


# An entity the device found: (type, first character, one past the last) of the message.
EntityFound = tuple[str, int, int]


@dataclass(frozen=True)
class Prediction:
    label: str  # argmax class
    confidence: float  # its softmax probability
    topk: tuple[tuple[str, float], ...]  # best first
    latency_us: int  # wall time of the classification on the device
    entities: tuple[EntityFound, ...] | None = None  # None: the model has no tagging head


def entities_from_tags(
    text: str, tags: Sequence[int], types: Sequence[str], max_len: int
) -> tuple[EntityFound, ...]:
    """The entities of a device's tag path over ``text`` (docs/integer-lstm.md section 8): the
    runs of the path over the tokenizer's character spans (the same tokens the engine tagged:
    the first ``max_len``)."""
    spans = Tokenizer(max_len=max_len).encode_with_spans(text)
    if len(spans) != len(tags):
        raise EngineError(f"{len(tags)} tags for {len(spans)} tokens")
    return tuple((kind, spans[a][1], spans[b - 1][2]) for a, b, kind in decode_tags(tags, types))


@dataclass(frozen=True)
class SlotState:
    active: int  # confirmed slot (0/1) or NO_SLOT
    trial: int  # slot waiting for its self-test boot, or NO_SLOT
    running_version: int  # model version booted now, 0 = none
    floor_version: int  # anti-rollback floor (highest confirmed version)


def topk_probs(
    labels: Sequence[str], logits_q10: Sequence[int], k: int
) -> tuple[tuple[str, float], ...]:
    """Softmax of Q.10 logits, the ``k`` most probable labels first (ties: lower index)."""
    z = [v / LOGIT_SCALE for v in logits_q10]
    top = max(z)
    exps = [math.exp(v - top) for v in z]
    total = math.fsum(exps)
    order = sorted(range(len(z)), key=lambda i: (-z[i], i))[:k]
    # Rounded down to 6 digits so the top-k never sums above 1 on the wire.
    return tuple((labels[i], math.floor(exps[i] / total * 1e6) / 1e6) for i in order)


class Device(abc.ABC):
    """A device's model storage and inference engine (one per simulated device)."""

    @abc.abstractmethod
    def begin(self, version: int, size: int, sha256: bytes) -> None:
        """Runs when a verified manifest starts an update: erase the inactive slot.
        Raises EngineError (e.g. ``TL_ERR_ROLLBACK``, ``TL_ERR_TOO_LARGE``) to refuse it."""

    @abc.abstractmethod
    def write_chunk(self, offset: int, data: bytes, crc32: int) -> None:
        """Runs per received chunk, in order. EngineError on a CRC or order mismatch: the
        chunk is not written and must be fetched again from ``offset``."""

    @abc.abstractmethod
    def finish(self) -> None:
        """Runs after the last chunk: check SHA-256 and blob, mark the slot for a trial.
        EngineError means the staged image is unusable (the old model stays)."""

    @abc.abstractmethod
    def boot(self) -> int:
        """Runs at start-up and after ``finish``: boot a trial slot with its self-test
        (confirm on success, revert on failure) or the confirmed slot; return the running
        model version. EngineError only when no slot holds a bootable model."""

    @abc.abstractmethod
    def state(self) -> SlotState: ...

    @abc.abstractmethod
    def classify(self, text: str, k: int = 3) -> Prediction:
        """Runs per incoming message on the booted model. EngineError if nothing is booted."""

    @property
    @abc.abstractmethod
    def labels(self) -> tuple[str, ...]: ...

    def provision(self, blob: bytes, version: int, chunk: int = 4096) -> int:
        """Factory install of ``blob`` through the normal staging path; returns the version."""
        import hashlib
        import zlib

        self.begin(version, len(blob), hashlib.sha256(blob).digest())
        for offset in range(0, len(blob), chunk):
            part = blob[offset : offset + chunk]
            self.write_chunk(offset, part, zlib.crc32(part))
        self.finish()
        return self.boot()
