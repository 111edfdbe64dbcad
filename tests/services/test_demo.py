"""The quick automatic demo (``--quick --auto``, one drift) runs the whole loop against the
session stack without a command, and its numbers agree: everything published reached Kafka
exactly once, drift rose after the switch, every request was labeled, and the drift closed its
own loop: the distiller's drift trigger (Prometheus) started a cycle that published a signed
release from the teacher's labels, the rollout manager shipped it canary -> fleet, every
device confirmed it, and it is more accurate on the drifted phase's gold labels than the
release before it. (The ops path, Redistill through the control API, is the control and
distiller stream tests' subject.)"""

from __future__ import annotations

import gc
import io
from dataclasses import replace

import pytest
from rich.console import Console

from contract.signing import verify
from services.demo import QUICK_AUTO
from services.demo.run import run
from services.demo.summary import delivery_ok, drift_increased, loop_closed
from services.releases.store import ReleaseStore

pytestmark = pytest.mark.integration

# one automatic round: the first drift (phase 2) is strong on release 1 (PSI 0.7-1.1), so the
# trigger's hold completes in every run; the second (phase 3 on the phase-2 release) hovers
# around the threshold and fired in one of two runs, too flaky for make test
QUICK = replace(QUICK_AUTO, drift_phases=(2,))


# hold -> cycle -> canary -> fleet: 6-9 minutes on a loaded 2-core machine
@pytest.mark.timeout(1200)
# kafka-python and paho drop unconnected sockets without closing them when they reconnect
# (e.g. while another test restarts the shared broker); that is not the demo's doing.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)
def test_quick_auto_demo_closes_the_loop_without_a_command(stack, tmp_path):
    out = io.StringIO()
    result = run(replace(QUICK, var_dir=tmp_path), Console(file=out, width=120))
    gc.collect()  # the clients' dropped sockets warn here, under this test's filter
    text = out.getvalue()
    k, loop = result.kafka, result.loop

    # delivery: every prediction the devices published reached Kafka once, in the right phase
    assert result.traffic.undelivered == 0, text
    assert result.traffic.sent == result.published
    assert k.unique_predictions == result.published, text
    for phase in QUICK.phases:  # by the event's timestamp; a message may straddle a switch
        assert abs(k.by_phase[phase] - result.traffic.published[phase]) <= 2, text
    assert sum(k.by_version.values()) == k.unique_predictions
    assert k.dlq >= result.traffic.malformed == QUICK.malformed
    assert delivery_ok(result)
    # the services' own counters, read from Prometheus, agree with the records
    assert result.counters["processor events"] == k.unique_predictions, text
    assert result.counters["gateway dead-lettered"] >= result.traffic.malformed, text

    # drift: phase-2 windows drift more from the release's profile than phase-0 windows
    assert drift_increased(result), text
    for feature in ("class_mix", "confidence"):
        before, after = result.drift_before[(feature, "psi")], result.drift_after[(feature, "psi")]
        assert after.mean > before.mean, (feature, text)
    assert result.low_conf_after is not None and result.low_conf_before is not None
    assert result.low_conf_after > result.low_conf_before, text

    # labeling: the labeler answered every request of this run
    assert k.label_requests > 0 and k.labeled == k.label_requests, text
    assert k.requests_by_phase.get(2, 0) > 0
    assert [t.split("@")[0] for t in k.teacher_ids] == ["llm:corpus-oracle"]

    # a round per drift, each started by the distiller's drift trigger: no ops command was sent
    assert len(result.rounds) == len(QUICK.drift_phases) and result.rounds[0].loop is loop, text
    assert not result.counters["control commands accepted"], text
    store = ReleaseStore(stack.settings.data_dir / "releases")
    public = (stack.settings.data_dir / "keys" / "release.pub").read_bytes()
    for n, rnd in enumerate(result.rounds, start=1):
        made = rnd.loop
        assert rnd.phase == QUICK.drift_phases[n - 1] and rnd.version == result.version + n - 1
        # a release published by the distiller's drift cycle, signed with the key devices trust
        assert made.outcome == "published" and made.version == result.version + n, text
        assert made.manifest is not None and made.signed, text
        stored = store.manifest(made.version)
        verify(stored, public)
        assert stored.sha256 == made.manifest.sha256
        m = made.manifest.metrics
        assert m["gate_new_accuracy_candidate"] > m["gate_new_accuracy_old"], text
        assert rnd.onset < m["cycle_started_at"] < made.manifest.created.timestamp()
        # ... shipped canary first, then the fleet, and confirmed by every device of the demo
        assert made.rollout is not None and made.rollout.status == "completed", text
        assert [stage.group for stage in made.rollout.stages] == ["canary", "fleet"]
        canary, fleet = made.rollout.stages
        assert canary.finished_at is not None and fleet.started_at is not None
        assert canary.finished_at <= fleet.started_at
        assert len(made.confirmed_at) == QUICK.devices, text
        assert max(made.confirmed_at.values()) > m["cycle_started_at"]
        # ... and better against the truth on the phase that drifted than the one before
        gold = result.gold.releases
        assert gold[made.version][rnd.phase] > gold[rnd.version][rnd.phase], text
        assert k.by_version[made.version] > 0
    last = result.rounds[-1].loop.version
    assert set(k.last_version.values()) == {last}, text
    assert "The automatic rounds" in text and "Accuracy against the truth" in text
    assert loop_closed(result), text
    assert f"{k.unique_predictions}/{result.published} published predictions reached Kafka" in (
        text
    )
    assert "The loop closed" in text
    # the student has the tagging head: devices sent entities (event v2), a few are printed
    assert 0 < k.with_entities <= k.unique_predictions, text
    assert k.entity_samples and "Entities found on the devices" in text, text
    assert all(line in text.replace("\n", "") for line in k.entity_samples[:1]), text
    # the pictures next to the summary: the plots and the ops page, named in the summary
    assert [p.name for p in result.pictures] == [
        "drift.png",
        "rollout.png",
        "accuracy.png",
        "ops-page.png",
    ], result.not_included
    for picture in result.pictures:
        assert picture.parent == tmp_path / "summary" and picture.stat().st_size > 10_000
        assert f"Picture: {picture}" in text.replace("\n", "")
