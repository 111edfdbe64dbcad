"""Reading the newest records of a topic for a page or a read endpoint, with one Kafka
consumer kept for the process's lifetime (instead of a consumer, its connections and a
metadata round trip per request); a failed read drops it, the next read makes a new one."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from services.control.sink import CommandSinkError


class TopicTail:
    """``read(topic, limit)``: the values of the last ``limit`` records of every partition of
    ``topic``, in the order they were appended (by record timestamp across partitions);
    tombstones are skipped. Thread-safe (calls are serialised: kafka-python's consumer is not
    thread-safe). Raises :class:`CommandSinkError` when Kafka or the topic cannot be read."""

    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        self.bootstrap, self.timeout_s = bootstrap, timeout_s
        self._consumer: Any = None  # kafka.KafkaConsumer, made on the first read
        self._lock = threading.Lock()
        self.consumers_made = 0  # how many consumers this tail created (metrics, tests)

    def _get(self) -> Any:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        if self._consumer is None:
            timeout_ms = int(self.timeout_s * 1000)
            try:
                self._consumer = KafkaConsumer(
                    bootstrap_servers=self.bootstrap,
                    client_id="fleet-control-reader",
                    group_id=None,
                    enable_auto_commit=False,
                    request_timeout_ms=max(timeout_ms, 1000),
                    bootstrap_timeout_ms=timeout_ms,
                )
            except KafkaError as exc:
                raise CommandSinkError(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
            self.consumers_made += 1
        return self._consumer

    def _drop(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):  # a broken consumer: nothing left to save
                self._consumer.close()
            self._consumer = None

    def read(self, topic: str, limit: int) -> list[bytes]:
        from kafka import TopicPartition
        from kafka.errors import KafkaError

        with self._lock:
            consumer = self._get()
            try:
                partitions = consumer.partitions_for_topic(topic)
                if not partitions:
                    consumer.assign([])
                    raise CommandSinkError(f"topic {topic} does not exist")
                tps = [TopicPartition(topic, p) for p in sorted(partitions)]
                consumer.assign(tps)
                begins, ends = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
                for tp in tps:
                    consumer.seek(tp, max(begins[tp], ends[tp] - limit))
                records: list[Any] = []
                deadline = time.monotonic() + self.timeout_s
                while any(consumer.position(tp) < ends[tp] for tp in tps):
                    if time.monotonic() > deadline:
                        raise CommandSinkError(
                            f"could not read {topic} to its end in {self.timeout_s}s"
                        )
                    for tp, batch in consumer.poll(timeout_ms=200).items():
                        records += [r for r in batch if r.value is not None and r.offset < ends[tp]]
                records.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
                return [r.value for r in records]
            except CommandSinkError as exc:
                if "does not exist" not in str(exc):
                    self._drop()
                raise
            except KafkaError as exc:
                self._drop()
                raise CommandSinkError(f"cannot read {topic}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._drop()
