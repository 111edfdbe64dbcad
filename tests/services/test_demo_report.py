"""The demo's accounting on in-memory records: which records are this run's, which phase they
belong to, and when the summary calls delivery complete and drift risen."""

from __future__ import annotations

import pytest

from contract.schemas import examples
from contract.schemas.dlq import DlqRecord
from models.errors import ConfigError
from services.demo.config import FULL, QUICK, DemoConfig
from services.demo.devices import TrafficStats
from services.demo.report import DriftWindowStats, KafkaCounts, count_records
from services.demo.run import DemoResult
from services.demo.summary import delivery_ok, drift_increased, loop_closed, low_confidence_fell

TOPICS = {"predictions": "p", "dlq": "d", "requests": "r", "labeled": "l"}
SWITCH = 1_000_000.0


def _event(device: str, seq: int, ts: float, version: int = 7):
    event = examples.prediction_event(device_id=device, seq=seq, model_version=version)
    return event.model_copy(update={"ts": ts, "message_id": f"{device}-{version}-{seq}"})


def _request(event):
    return examples.label_request().model_copy(
        update={"message_id": event.message_id, "text": event.text, "model_version": 7}
    )


def _labeled(event, label: str):
    sample = examples.labeled_sample()
    probs = {label: 0.9, "其他" if label != "其他" else "紧急": 0.1}
    return sample.model_copy(
        update={"message_id": event.message_id, "teacher_probs": probs, "label": label}
    )


def test_counts_only_this_runs_predictions_and_their_requests_and_labels():
    mine = [_event("sim-0000", 0, SWITCH - 5), _event("sim-0001", 0, SWITCH + 5)]
    other_device = _event("dev-0001", 0, SWITCH - 5)
    other_version = _event("sim-0000", 1, SWITCH - 5, version=3)
    records = {
        "p": [e.to_bytes() for e in (*mine, mine[0], other_device, other_version)],
        "d": [DlqRecord.of("Invalid JSON", "fleet/sim-0000/pred", b"{", SWITCH).to_bytes()],
        "r": [_request(e).to_bytes() for e in (*mine, other_device)],
        "l": [_labeled(mine[0], mine[0].label).to_bytes(), _labeled(mine[1], "其他").to_bytes()],
    }

    def is_mine(e):
        return e.device_id.startswith("sim-") and e.model_version == 7

    counts = count_records(records, TOPICS, is_mine, SWITCH)
    assert (counts.predictions, counts.unique_predictions) == (3, 2)  # one redelivery
    assert counts.by_phase == {0: 1, 2: 1}
    assert (counts.by_version, counts.phase2_by_version) == ({7: 2}, {7: 1})
    assert counts.last_version == {"sim-0000": 7, "sim-0001": 7}
    assert (counts.dlq, counts.dlq_reasons) == (1, ["Invalid JSON"])
    assert (counts.label_requests, counts.requests_by_phase) == (2, {0: 1, 2: 1})
    assert counts.labeled == 2
    # the phase-0 sample agrees with the device, the phase-2 one does not
    assert mine[1].label != "其他"
    assert counts.disagreement_by_phase == {0: 0.0, 2: 1.0}


def _result(published: dict[int, int], in_kafka: int, before: float, after: float):
    result = DemoResult(traffic=TrafficStats(published=published, sent=sum(published.values())))
    result.kafka = KafkaCounts(unique_predictions=in_kafka)
    result.drift_before = {("class_mix", "psi"): DriftWindowStats(before, before, 5)}
    result.drift_after = {("class_mix", "psi"): DriftWindowStats(after, after, 5)}
    return result


def test_counts_predictions_per_release_and_each_devices_last_one():
    events = [
        _event("sim-0000", 0, SWITCH - 5, version=7),
        _event("sim-0000", 1, SWITCH + 5, version=7),
        _event("sim-0000", 2, SWITCH + 50, version=8),  # updated over the air
        _event("sim-0001", 0, SWITCH + 60, version=7),  # not (yet)
    ]
    records = {"p": [e.to_bytes() for e in reversed(events)], "d": [], "r": [], "l": []}
    counts = count_records(records, TOPICS, lambda e: e.model_version in (7, 8), SWITCH)
    assert counts.by_version == {7: 3, 8: 1}
    assert counts.phase2_by_version == {7: 2, 8: 1}
    assert counts.last_version == {"sim-0000": 8, "sim-0001": 7}


def test_summary_verdicts():
    assert delivery_ok(_result({0: 10, 2: 12}, 22, 0.05, 0.2))
    assert not delivery_ok(_result({0: 10, 2: 12}, 21, 0.05, 0.2))  # one lost
    assert drift_increased(_result({0: 1}, 1, 0.05, 0.2))
    assert not drift_increased(_result({0: 1}, 1, 0.2, 0.2))
    assert not drift_increased(DemoResult())  # nothing measured is not an increase
    result = DemoResult(low_conf_after=0.30, low_conf_new=0.08)
    assert low_confidence_fell(result)
    assert not low_confidence_fell(DemoResult(low_conf_after=0.30))  # v2 never measured
    assert not loop_closed(DemoResult())
    result.loop.closed = True
    assert loop_closed(result)


def test_config_rejects_phases_shorter_than_two_windows_and_unknown_teachers(tmp_path):
    assert QUICK.traffic_s < FULL.traffic_s
    with pytest.raises(ConfigError, match="two processor windows"):
        DemoConfig(phase0_s=10, window_s=10)
    with pytest.raises(ConfigError, match="two processor windows"):
        DemoConfig(after_s=10, window_s=10)
    with pytest.raises(ConfigError, match="canary_devices"):
        DemoConfig(devices=2, canary_devices=2)  # no device left for the fleet stage
    with pytest.raises(ConfigError, match="e5-small"):
        DemoConfig(teacher=str(tmp_path / "missing"))
    assert DemoConfig(teacher=str(tmp_path)).teacher == str(tmp_path)  # a teacher folder


def test_predictions_with_entities_are_counted_once_and_a_few_are_kept_for_the_summary():
    v2 = examples.prediction_event_v2()
    events = [v2.model_copy(update={"message_id": f"m{k}", "ts": SWITCH + k}) for k in range(6)]
    plain = _event("dev-0001", 0, SWITCH)
    records = {"p": [e.to_bytes() for e in [*events, events[0], plain]], "d": [], "r": [], "l": []}
    counts = count_records(records, TOPICS, lambda e: True, SWITCH)
    assert counts.with_entities == 6 and counts.unique_predictions == 7
    assert len(counts.entity_samples) == 4
    assert "ID [2:14] 'SF1234567890'" in counts.entity_samples[0]


def test_phases_from_a_schedule_and_accuracy_against_gold_labels():
    events = [_event("dev-0001", i, SWITCH + 10 * i, version=7 + (i >= 4)) for i in range(6)]
    texts = [f"message {i}" for i in range(6)]
    events = [e.model_copy(update={"text": t}) for e, t in zip(events, texts, strict=True)]
    gold = {
        t: e.label if i % 2 == 0 else "other"
        for i, (t, e) in enumerate(zip(texts, events, strict=True))
    }
    labeled = [
        _labeled(events[0], "right").model_copy(update={"text": texts[0]}),
        _labeled(events[3], gold[texts[3]]).model_copy(update={"text": texts[3]}),
    ]
    gold[texts[0]] = "wrong"
    records = {"p": [e.to_bytes() for e in events], "d": [], "r": [],
               "l": [s.to_bytes() for s in labeled]}  # fmt: skip

    def phase_of(ts: float) -> int:  # phase 1 from the third message, phase 2 from the fifth
        return 0 if ts < SWITCH + 20 else 1 if ts < SWITCH + 40 else 2

    counts = count_records(records, TOPICS, lambda e: True, SWITCH, phase_of, gold=gold)
    assert counts.by_phase == {0: 2, 1: 2, 2: 2}
    assert counts.phase2_by_version == {7: 2, 8: 2}  # every phase after 0 is drift traffic
    live = {key: (t.correct, t.total) for key, t in counts.gold_live.items()}
    # right: the even messages but message 0, whose gold label was changed to "wrong"
    assert live == {(0, 7): (0, 2), (1, 7): (1, 2), (2, 8): (1, 2)}
    teacher = {p: (t.correct, t.total) for p, t in counts.teacher_gold.items()}
    assert teacher == {0: (0, 1), 1: (1, 1)}


def test_auto_config_drift_phases_and_the_distillers_drift_trigger(tmp_path):
    from services.demo.config import AUTO, QUICK_AUTO
    from services.demo.processes import service_specs
    from services.settings import load_settings

    assert AUTO.phases == QUICK_AUTO.phases == (0, 2, 3) and FULL.phases == (0, 2)
    with pytest.raises(ConfigError, match="drift_phases"):
        DemoConfig(drift_phases=(1, 2))  # several drifts only with auto
    with pytest.raises(ConfigError, match="drift_phases"):
        DemoConfig(auto=True, drift_phases=(0, 1))
    with pytest.raises(ConfigError, match="drift_phases"):
        DemoConfig(auto=True, drift_phases=(2, 4))  # the corpus has phases 0-3
    ports = load_settings().metrics_ports
    for config, source in ((QUICK, "off"), (QUICK_AUTO, "prometheus")):
        specs = {s.name: s for s in service_specs(config, tmp_path, tmp_path, "keyword",
                                                   ["a", "b"], ports)}  # fmt: skip
        env = specs["distiller"].env
        assert env["FLEET_DISTILLER_DRIFT_SOURCE"] == source
    assert env["FLEET_DISTILLER_DRIFT_HOLD_S"] == str(int(QUICK_AUTO.drift_hold_s))
    assert env["FLEET_DISTILLER_DRIFT_MIN_NEW_SAMPLES"] == str(QUICK_AUTO.drift_min_new_samples)
