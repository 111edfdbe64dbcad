"""Reference profiles by model version, read from the compacted ``model.releases`` topic.

The topic is read from the beginning on every start (no consumer group), then followed, so
the processor knows the profile of every release still in the topic. It runs on its own
thread (kafka-python), outside faust's event loop and rebalances.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from contract.errors import ValidationError
from contract.schemas import ReferenceProfile, parse_release_manifest
from services.security.kafka import KafkaAccess

log = logging.getLogger(__name__)


class ReferenceStore:
    """Model version -> reference profile; filled by :func:`follow_releases`."""

    def __init__(self) -> None:
        self._profiles: dict[int, ReferenceProfile] = {}
        # set once the releases topic was read to its end (or found missing): from then on
        # a version not here is not a known release
        self.ready = threading.Event()

    def add(self, version: int, profile: ReferenceProfile) -> None:
        self._profiles[version] = profile

    def get(self, version: int) -> ReferenceProfile | None:
        return self._profiles.get(version)

    def __len__(self) -> int:
        return len(self._profiles)

    def apply(self, raw: bytes | None) -> bool:
        """Add the manifest in ``raw``; False (and a log line) when it does not parse."""
        if raw is None:
            return False  # a tombstone: the release stays known for its devices
        try:
            manifest = parse_release_manifest(raw)
        except ValidationError as exc:
            log.warning("skipping invalid release manifest: %s", exc.reason)
            return False
        self.add(manifest.version, manifest.reference_profile)
        return True


class ReleaseFollower(threading.Thread):
    """Daemon thread: reads ``topic`` from the start into ``store``, then follows it."""

    def __init__(
        self,
        kafka: KafkaAccess,
        topic: str,
        store: ReferenceStore,
        on_update: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(name="release-follower", daemon=True)
        self.kafka, self.topic, self.store, self.on_update = kafka, topic, store, on_update
        self._stop_event = threading.Event()
        self.caught_up = threading.Event()  # set once the topic was read to its end once

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        from kafka import TopicPartition

        consumer = self.kafka.consumer(group_id=None, enable_auto_commit=False)
        try:
            partitions = None
            while not partitions and not self._stop_event.is_set():
                partitions = consumer.partitions_for_topic(self.topic)
                if not partitions:
                    self.store.ready.set()  # no releases yet: nothing to wait for
                    self._stop_event.wait(1.0)  # the topic does not exist yet
            if not partitions:
                return
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            consumer.seek_to_beginning()
            ends = consumer.end_offsets(assigned)
            while not self._stop_event.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        if self.store.apply(record.value) and self.on_update is not None:
                            self.on_update(len(self.store))
                if not self.caught_up.is_set() and all(
                    consumer.position(tp) >= end for tp, end in ends.items()
                ):
                    self.caught_up.set()
                    self.store.ready.set()
        except Exception:
            log.exception("release follower stopped")
        finally:
            consumer.close()
