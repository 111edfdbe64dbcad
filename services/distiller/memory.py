"""The replay memory: which teacher-labeled samples of earlier traffic the distiller keeps
for later cycles, so that a release learns the new traffic without forgetting the old.

After every cycle the samples it saw (the memory it started from plus the new samples) are
cut down to at most ``size`` by a policy, and the sample store forgets the rest, so the store
stays bounded however long the fleet runs:

- ``class_balanced`` (default): an equal quota per teacher label; a label with fewer samples
  than its quota leaves the rest to the others (water-filling). Within a label the samples
  kept are a uniform sample of everything that label ever had (below). A label that appeared
  with a drift keeps its share after the next one, and a frequent label cannot crowd the
  rare ones out.
- ``reservoir``: a uniform sample of every sample ever stored, whatever its label.
- ``recent``: the newest ``size`` samples (a sliding window: earlier phases fall out).

Uniform samples are bottom-k samples: a sample's rank is a hash of its message id, and the
``k`` lowest ranks are kept. That is reservoir sampling without state: the k lowest of
(memory + new samples) are the k lowest of everything ever seen, the same on every run and
after a restart.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from contract.schemas import LabeledSample
from models.errors import ConfigError

MemoryPolicy = Literal["class_balanced", "reservoir", "recent"]
POLICIES: tuple[str, ...] = ("class_balanced", "reservoir", "recent")


def rank(message_id: str) -> int:
    """The bottom-k rank of a sample (SHA-256 of its id; the same everywhere)."""
    return int.from_bytes(hashlib.sha256(b"memory:" + message_id.encode()).digest()[:8], "big")


def quotas(counts: dict[str, int], size: int) -> dict[str, int]:
    """Per-label quotas summing to at most ``size``: equal shares, water-filled (a label with
    fewer samples than its share keeps all of them and leaves the rest to the others; the
    remainder of an uneven split goes to labels in name order)."""
    left, out = size, dict.fromkeys(counts, 0)
    open_labels = sorted(label for label, n in counts.items() if n > 0)
    while left > 0 and open_labels:  # every pass gives at least one sample away
        share, extra = divmod(left, len(open_labels))
        for i, label in enumerate(open_labels):
            give = min(share + (1 if i < extra else 0), counts[label] - out[label])
            out[label] += give
            left -= give
        open_labels = [label for label in open_labels if out[label] < counts[label]]
    return out


def select_memory(samples: Sequence[LabeledSample], size: int, policy: str) -> list[LabeledSample]:
    """At most ``size`` of ``samples`` (oldest first in, arrival order kept out) by ``policy``."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown memory policy {policy!r}; valid: {', '.join(POLICIES)}")
    if size < 0:
        raise ConfigError(f"memory size must be >= 0, got {size}")
    if len(samples) <= size:
        return list(samples)
    if size == 0:
        return []
    if policy == "recent":
        return list(samples[-size:])
    if policy == "reservoir":
        keep = {s.message_id for s in sorted(samples, key=lambda s: rank(s.message_id))[:size]}
        return [s for s in samples if s.message_id in keep]
    by_label: dict[str, list[LabeledSample]] = defaultdict(list)
    for s in samples:
        by_label[s.label].append(s)
    quota = quotas({label: len(group) for label, group in by_label.items()}, size)
    keep = set()
    for label, group in by_label.items():
        lowest = sorted(group, key=lambda s: rank(s.message_id))[: quota[label]]
        keep.update(s.message_id for s in lowest)
    return [s for s in samples if s.message_id in keep]
