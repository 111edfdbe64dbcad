"""Kafka side of the rollout manager: the durable state topic and who reported recently.

State lives in a compacted topic (``model.rollouts``, one partition, key = the release version
as decimal text, value = :class:`contract.schemas.rollout.RolloutRecord` JSON) rather than a
local file: it survives the manager's host, it is written with the same acks=all guarantees
as every other hop, and ops tools (``fleet rollout status``, the control API) read it with an
ordinary consumer without access to the manager's disk. :func:`read_records` reads it to its
end and keeps the latest record per key, which is exactly what compaction keeps.
"""

from __future__ import annotations

import logging

from contract.errors import ValidationError
from contract.schemas import parse_device_status
from contract.schemas.rollout import RolloutRecord, parse_rollout_record
from services.rollout.adapters import RolloutIOError, StateStore
from services.security.kafka import KafkaAccess
from services.topic_reader import read_to_end

log = logging.getLogger(__name__)


def ensure_state_topic(kafka: KafkaAccess, topic: str) -> None:
    """Create the compacted state topic when it does not exist yet."""
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = kafka.admin(client_id="fleet-rollout-admin")
    except KafkaError as exc:
        raise RolloutIOError(f"cannot reach Kafka at {kafka}: {exc}") from exc
    try:
        if topic in admin.list_topics():
            return
        spec = NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})
        admin.create_topics([spec], timeout_ms=30_000)
        log.info("created compacted state topic %s", topic)
    except TopicAlreadyExistsError:
        pass
    except KafkaError as exc:
        raise RolloutIOError(f"cannot create {topic}: {exc}") from exc
    finally:
        admin.close()


def read_records(
    kafka: KafkaAccess, topic: str, timeout_s: float = 30.0
) -> dict[int, RolloutRecord]:
    """The latest record per release version in the state topic (empty when it is absent)."""
    records: dict[int, RolloutRecord] = {}
    for message in read_to_end(kafka, topic, timeout_s=timeout_s, error=RolloutIOError):
        try:
            record = parse_rollout_record(message.value)
        except ValidationError as exc:
            log.warning("skipping bad state record at %d: %s", message.offset, exc)
            continue
        records[record.version] = record
    return records


class _Producer:
    def __init__(self, kafka: KafkaAccess, timeout_s: float) -> None:
        from kafka.errors import KafkaError

        self.timeout_s = timeout_s
        try:
            self.producer = kafka.producer(acks="all", enable_idempotence=True, linger_ms=0)
        except KafkaError as exc:
            raise RolloutIOError(f"cannot reach Kafka at {kafka}: {exc}") from exc

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        from kafka.errors import KafkaError

        try:
            self.producer.send(topic, key=key, value=value).get(timeout=self.timeout_s)
        except KafkaError as exc:
            raise RolloutIOError(f"write to {topic} not acknowledged: {exc}") from exc

    def close(self) -> None:
        self.producer.close(timeout=5)


class KafkaStateStore(StateStore):
    def __init__(self, kafka: KafkaAccess, topic: str, timeout_s: float = 30.0) -> None:
        ensure_state_topic(kafka, topic)
        self.kafka, self.topic = kafka, topic
        self.producer = _Producer(kafka, timeout_s)

    def load(self) -> dict[int, RolloutRecord]:
        return read_records(self.kafka, self.topic)

    def save(self, record: RolloutRecord) -> None:
        self.producer.send(self.topic, str(record.version).encode(), record.to_bytes())

    def close(self) -> None:
        self.producer.close()


def recent_reporters(
    kafka: KafkaAccess, topic: str, since: float, timeout_s: float = 30.0
) -> dict[str, float]:
    """Device id -> Kafka timestamp (s) of its last report in ``topic`` since ``since``: who
    was alive before a restart, so the next stage's population is not just the devices that
    happen to report after it."""
    seen: dict[str, float] = {}
    for message in read_to_end(
        kafka, topic, timeout_s=timeout_s, error=RolloutIOError, since=since
    ):
        try:
            device = parse_device_status(message.value).device_id
        except ValidationError:
            continue
        seen[device] = max(seen.get(device, 0.0), message.timestamp / 1000)
    return seen
