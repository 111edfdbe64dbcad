"""Device-controlled values never become keys: only known releases and their label sets are
counted, and a device's labeling budget holds across the versions it claims."""

from __future__ import annotations

import random

import pytest

from benchmarks.harness.processor import make_topics, processor_process, publish_release
from benchmarks.harness.service_process import delete_topics_with_prefix
from benchmarks.harness.stream_data import make_event, manifest
from contract.schemas import LabelProb
from services.processor.admission import Admission, DeviceQuota, refusal
from services.processor.aggregator import Aggregator
from services.processor.metrics import ProcessorMetrics
from services.processor.releases import ReferenceStore
from services.processor.settings import ProcessorSettings


def references(*versions: int) -> ReferenceStore:
    store = ReferenceStore()
    for version in versions:
        store.apply(manifest(version).to_bytes())
    return store


def low(event, conf: float = 0.3):
    topk = [LabelProb(label=event.label, prob=conf)]
    return event.model_copy(update={"confidence": conf, "topk": topk})


def test_unknown_releases_and_labels_are_refused():
    store = references(3)
    rng = random.Random(1)
    known = make_event(rng, "dev-1", 0, 3, shifted=False)
    assert refusal(known, store) is None
    assert refusal(make_event(rng, "dev-1", 1, 4_000_000, shifted=False), store) == (
        "unknown_release"
    )
    invented = [LabelProb(label="made-up", prob=0.5), *known.topk[1:]]
    forged = known.model_copy(update={"topk": invented, "label": "made-up"})
    assert refusal(forged, store) == "unknown_label"
    second = [known.topk[0], LabelProb(label="other-made-up", prob=0.01)]
    assert refusal(known.model_copy(update={"topk": second}), store) == "unknown_label"


def test_entity_types_outside_the_taggers_are_refused():
    from contract.schemas import EntitySpan, examples

    store = references(1)
    tagged = examples.prediction_event_v2("dev-1", seq=3)
    assert tagged.model_version == 1 and tagged.entities and refusal(tagged, store) is None
    made_up = EntitySpan(type="MADE_UP", start=0, end=1, text=tagged.text[:1])
    forged = tagged.model_copy(update={"entities": [made_up, *tagged.entities[1:]]})
    assert refusal(forged, store) == "unknown_entity_type"


def test_a_device_inventing_versions_grows_nothing():
    settings = ProcessorSettings(window_s=10, metrics_port=0)
    metrics = ProcessorMetrics.create()
    admission = Admission(settings, references(3), metrics)
    rng = random.Random(2)
    for seq in range(500):
        event = make_event(rng, "dev-evil", seq, 1000 + seq, shifted=False)
        assert admission.check(event, 1000.0) == (False, False)
    samples = [s for f in metrics.registry.collect() for s in f.samples]
    assert not [s for s in samples if s.labels.get("model_version", "3") != "3"]
    assert (
        metrics.registry.get_sample_value(
            "fleet_processor_dropped_total", {"reason": "unknown_release"}
        )
        == 500
    )
    assert admission.quota.used == {}


def test_a_device_budget_holds_across_the_versions_it_claims():
    settings = ProcessorSettings(window_s=10, metrics_port=0, per_device_cap=2)
    store = references(3, 4, 5)
    admission = Admission(settings, store, ProcessorMetrics.create())
    aggregator = Aggregator(settings, ProcessorMetrics.create(), store, {}, {}, {}, {})
    rng = random.Random(3)
    offered = []
    for seq in range(9):  # three versions, three low-confidence predictions each
        event = low(make_event(rng, "dev-chatty", seq, 3 + seq % 3, shifted=False))
        counted, may_sample = admission.check(event, 1000.5)
        assert counted
        offered.append(may_sample)
        aggregator.on_prediction(event, 1000.5, partition=0, offset=seq, may_sample=may_sample)
    assert offered == [True, True] + [False] * 7
    assert sum(len(pool) for pool in aggregator.pools.values()) == 2
    assert sum(raw["events"] for raw in aggregator.windows.values()) == 9  # all counted
    confident = make_event(rng, "dev-chatty", 99, 3, shifted=False)
    confident = confident.model_copy(update={"confidence": 0.95, "topk": [
        LabelProb(label=confident.label, prob=0.95)]})  # fmt: skip
    assert admission.check(confident, 1000.5) == (True, True)  # not a candidate anyway
    assert admission.check(low(make_event(rng, "dev-other", 0, 3, shifted=False)), 1000.5) == (
        True, True,
    )  # fmt: skip
    assert admission.check(low(make_event(rng, "dev-chatty", 10, 3, shifted=False)), 1010.5) == (
        True, True,
    )  # fmt: skip  # the next window


def test_quota_of_old_windows_is_forgotten():
    quota = DeviceQuota(1)
    assert quota.take("d", 0.0) and not quota.take("d", 0.0) and quota.take("d", 10.0)
    quota.expire(before=5.0)
    assert quota.used == {("d", 10.0): 1}


@pytest.mark.integration
def test_the_processor_counts_only_known_releases_and_labels(stack, kafka_topic_factory, tmp_path):
    topics = make_topics(kafka_topic_factory)
    producer = stack.kafka.producer(acks="all", linger_ms=5)
    publish_release(producer, topics.releases, 3)
    proc = processor_process(topics, tmp_path, window_s=600.0).start()
    rng = random.Random(4)
    sent: dict[str, int] = {"known": 0, "unknown_release": 0, "unknown_label": 0}
    try:
        for seq in range(90):
            kind = ("known", "unknown_release", "unknown_label")[seq % 3]
            version = 7_000_000 + seq if kind == "unknown_release" else 3
            event = make_event(rng, "dev-evil", seq, version, shifted=False)
            if kind == "unknown_label":
                event = event.model_copy(update={
                    "label": f"x{seq}", "topk": [LabelProb(label=f"x{seq}", prob=0.5)],
                    "confidence": 0.5,
                })  # fmt: skip
            producer.send(topics.predictions, key=b"dev-evil", value=event.to_bytes())
            sent[kind] += 1
        producer.flush(timeout=30)

        def counted() -> bool:
            return proc.value("fleet_processor_events_total", model_version="3") == sent[
                "known"
            ] and all(
                proc.value("fleet_processor_dropped_total", reason=r) == sent[r]
                for r in ("unknown_release", "unknown_label")
            )

        proc.wait_for(counted, "every prediction counted or dropped", timeout_s=180)
        keyed = {dict(labels).get("model_version") for (_, labels) in proc.metrics()}
        assert keyed <= {None, "3"}, keyed  # no series of an invented version
        assert not [k for k in proc.metrics() if any(v.startswith("x") for _, v in k[1])]
    finally:
        assert proc.stop() == 0, proc.tail()
        producer.close()
        delete_topics_with_prefix(stack.kafka, proc.env["FLEET_PROCESSOR_APP_ID"])
