"""kafka-python and aiokafka against the real broker: idempotent produce, consume back."""

from __future__ import annotations

import asyncio

import pytest

from contract.schemas import examples, parse_prediction

pytestmark = pytest.mark.integration


def test_stack_created_the_design_topics(stack):
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = stack.kafka.admin()
    try:
        topics = set(admin.list_topics())
        expected = set(stack.settings.topics.by_name())
        assert expected <= topics, f"missing: {expected - topics}"
        described = {t["name"]: t for t in admin.describe_topics(["fleet.predictions"])}
        assert len(described["fleet.predictions"]["partitions"]) >= 6
        releases = ConfigResource(ConfigResourceType.TOPIC, "model.releases")
        configs = admin.describe_configs([releases])["topic"]["model.releases"]
        assert configs["cleanup.policy"]["value"] == "compact"
    finally:
        admin.close()


def test_kafka_python_idempotent_produce_and_consume_back(stack, kafka_topic_factory):

    topic = kafka_topic_factory(partitions=3)
    events = [examples.prediction_event(device_id=f"dev-000{i % 3 + 1}", seq=i) for i in range(9)]
    producer = stack.kafka.producer(acks="all", enable_idempotence=True)
    try:
        for event in events:
            producer.send(topic, key=event.device_id.encode(), value=event.to_bytes())
        producer.flush(timeout=30)
    finally:
        producer.close()

    consumer = stack.kafka.consumer(
        topic,
        group_id=f"{topic}-reader",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=15_000,
    )
    received = []
    try:
        for record in consumer:
            received.append(record)
            if len(received) == len(events):
                break
    finally:
        consumer.close()
    got = {parse_prediction(r.value).message_id: r for r in received}
    assert set(got) == {e.message_id for e in events}
    # keyed by device: one device's records all land in one partition, in order
    by_device: dict[str, set[int]] = {}
    for record in received:
        by_device.setdefault(record.key.decode(), set()).add(record.partition)
    assert all(len(parts) == 1 for parts in by_device.values()), by_device


def test_aiokafka_produce_and_consume_back(stack, kafka_topic_factory):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = kafka_topic_factory(partitions=2)
    events = [examples.prediction_event(seq=i) for i in range(5)]

    async def roundtrip() -> list[bytes]:
        producer = AIOKafkaProducer(**stack.kafka.aiokafka(), acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(topic, event.to_bytes(), key=b"dev-0001")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            **stack.kafka.aiokafka(),
            group_id=f"{topic}-reader",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        values: list[bytes] = []
        try:
            async with asyncio.timeout(30):
                async for record in consumer:
                    values.append(record.value)
                    if len(values) == len(events):
                        break
            await consumer.commit()
        finally:
            await consumer.stop()
        return values

    values = asyncio.run(roundtrip())
    assert [parse_prediction(v) for v in values] == events  # one key: one partition, in order
