"""read_to_end and TopicReader against the real Kafka: every range ends at the end offsets the
read started with."""

import time

import pytest

from services.errors import ServiceError
from services.security.kafka import KafkaAccess
from services.topic_reader import TopicReader, read_to_end

pytestmark = pytest.mark.integration


def produce(kafka: KafkaAccess, topic: str, records: list[tuple[bytes, bytes | None, int | None]]):
    """Write (key, value, timestamp in ms or None) records, acknowledged."""

    producer = kafka.producer(acks="all")
    for key, value, ts in records:
        producer.send(topic, key=key, value=value, timestamp_ms=ts)
    producer.flush(timeout=30)
    producer.close()


def test_reads_every_partition_to_its_end_and_skips_tombstones(stack, kafka_topic_factory):
    topic = kafka_topic_factory(partitions=3, compacted=True)
    records = [(f"k{i}".encode(), f"v{i}".encode(), None) for i in range(30)]
    produce(stack.kafka, topic, [*records, (b"k0", None, None)])  # + a tombstone
    values = sorted(r.value.decode() for r in read_to_end(stack.kafka, topic))
    assert values == sorted(f"v{i}" for i in range(30))
    assert list(read_to_end(stack.kafka, f"{topic}.absent")) == []


def test_a_deadline_longer_than_an_idle_connection_is_a_valid_read(stack, kafka_topic_factory):
    # The deadline bounds the whole read; one request stays below connections_max_idle_ms
    # (kafka-python refuses a consumer whose request timeout is not).
    topic = kafka_topic_factory(partitions=1)
    produce(stack.kafka, topic, [(b"k", b"v", None)])
    values = [r.value for r in read_to_end(stack.kafka, topic, timeout_s=600)]
    assert values == [b"v"]


def test_newest_and_since_read_only_the_end_of_the_topic(stack, kafka_topic_factory):
    topic = kafka_topic_factory(partitions=2)
    now_ms = int(time.time() * 1000)
    produce(
        stack.kafka,
        topic,
        [(f"k{i}".encode(), f"v{i}".encode(), now_ms - 60_000 + i) for i in range(20)]
        + [(f"k{i}".encode(), f"new{i}".encode(), now_ms + i) for i in range(4)],
    )
    newest = [r.value for r in read_to_end(stack.kafka, topic, newest=4)]
    assert len(newest) == 4  # about n, split evenly over the partitions
    since = {r.value for r in read_to_end(stack.kafka, topic, since=now_ms / 1000)}
    assert since == {f"new{i}".encode() for i in range(4)}
    later = read_to_end(stack.kafka, topic, since=now_ms / 1000 + 3600)
    assert list(later) == []


def test_one_reader_serves_many_reads_in_append_order(stack, kafka_topic_factory):
    topic = kafka_topic_factory(partitions=1)
    produce(stack.kafka, topic, [(b"k", f"v{i}".encode(), None) for i in range(10)])
    reader = TopicReader(stack.kafka, timeout_s=10)
    try:
        assert reader.newest(topic, 3) == [b"v7", b"v8", b"v9"]
        with pytest.raises(ServiceError, match="does not exist"):
            reader.newest(f"{topic}.absent", 3)
        assert reader.newest(topic, 100) == [f"v{i}".encode() for i in range(10)]
        assert reader.consumers_made == 1  # a missing topic is not the consumer's fault
    finally:
        reader.close()
