"""The quick demo runs the whole loop against the session stack and its numbers agree:
everything published reached Kafka exactly once, drift rose after the switch, every request
was labeled, and the loop closed: the distiller published a signed release from the teacher's
labels, the rollout manager shipped it canary -> fleet, every device confirmed it and its
predictions reached Kafka."""

from __future__ import annotations

import gc
import io
from dataclasses import replace

import pytest
from rich.console import Console

from contract.signing import verify
from services.demo import QUICK
from services.demo.run import run
from services.demo.summary import delivery_ok, drift_increased, loop_closed
from services.releases.store import ReleaseStore

pytestmark = pytest.mark.integration


# kafka-python and paho drop unconnected sockets without closing them when they reconnect
# (e.g. while another test restarts the shared broker); that is not the demo's doing.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)
def test_quick_demo_closes_the_loop_and_accounts_for_every_prediction(stack, tmp_path):
    out = io.StringIO()
    result = run(replace(QUICK, var_dir=tmp_path), Console(file=out, width=120))
    gc.collect()  # the clients' dropped sockets warn here, under this test's filter
    text = out.getvalue()
    k, loop = result.kafka, result.loop

    # delivery: every prediction the devices published reached Kafka once, in the right phase
    assert result.traffic.undelivered == 0, text
    assert result.traffic.sent == result.published
    assert k.unique_predictions == result.published, text
    for phase in (0, 2):  # by the event's timestamp; a message may straddle the switch
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

    # the loop: release 2 published by the distiller, signed with the key devices trust ...
    assert loop.outcome == "published", text
    assert loop.version == result.version + 1
    assert loop.manifest is not None and loop.signed, text
    store = ReleaseStore(stack.settings.data_dir / "releases")
    stored = store.manifest(loop.version)
    verify(stored, (stack.settings.data_dir / "keys" / "release.pub").read_bytes())
    assert stored.sha256 == loop.manifest.sha256
    assert (
        loop.manifest.metrics["gate_new_accuracy_candidate"]
        > (loop.manifest.metrics["gate_new_accuracy_old"])
    )
    # ... shipped canary first, then the fleet, and confirmed by every device of the demo
    assert loop.rollout is not None and loop.rollout.status == "completed", text
    groups = [stage.group for stage in loop.rollout.stages]
    assert groups == ["canary", "fleet"]
    canary, fleet = loop.rollout.stages
    assert canary.finished_at is not None and fleet.started_at is not None
    assert canary.finished_at <= fleet.started_at
    assert len(loop.confirmed_at) == QUICK.devices, text
    assert set(loop.final_versions.values()) == {loop.version}, text
    # ... and its predictions reached Kafka, counted once with all the others
    assert k.by_version[loop.version] > 0 and k.phase2_by_version[loop.version] > 0
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
