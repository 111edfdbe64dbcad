"""recent_texts against the real Kafka: the newest predictions of every partition."""

import pytest

from contract.schemas import examples
from services.distiller.traffic import recent_texts

pytestmark = pytest.mark.integration


def test_reads_the_newest_predictions_of_every_partition(stack, kafka_topic_factory):

    topic = kafka_topic_factory(partitions=3)
    producer = stack.kafka.producer(acks="all")
    for seq in range(60):
        event = examples.prediction_event(seq=seq, text=f"text {seq:03d}")
        producer.send(topic, partition=seq % 3, value=event.to_bytes())
    producer.send(topic, partition=0, value=b"not a prediction")
    producer.send(topic, partition=1, value=event.to_bytes())  # the newest again
    producer.flush(timeout=30)
    producer.close()

    texts = recent_texts(stack.kafka, topic, 12)
    # 4 newest records per partition: the newest 3-4 predictions of each, the repeated one once
    assert len(texts) == len(set(texts)) and 9 <= len(texts) <= 12
    assert {"text 059", "text 058", "text 057"} <= set(texts)
    assert all(int(t.split()[1]) >= 45 for t in texts), texts
    assert recent_texts(stack.kafka, topic, 0) == []
