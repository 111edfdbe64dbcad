"""read_to_end against the real Kafka."""

import pytest

from services.topic_reader import read_to_end

pytestmark = pytest.mark.integration


def test_reads_every_partition_to_its_end_and_skips_tombstones(stack, kafka_topic_factory):
    from kafka import KafkaProducer

    topic = kafka_topic_factory(partitions=3, compacted=True)
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    for i in range(30):
        producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    producer.send(topic, key=b"k0", value=None)  # a tombstone
    producer.flush(timeout=30)
    producer.close()
    values = sorted(r.value.decode() for r in read_to_end(stack.bootstrap_servers, topic))
    assert values == sorted(f"v{i}" for i in range(30))
    assert list(read_to_end(stack.bootstrap_servers, f"{topic}.absent")) == []
