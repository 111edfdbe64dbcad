"""The agent on the in-memory broker and device: events, offline buffering, OTA rules."""

from __future__ import annotations

import json
import zlib

import pytest

from contract.schemas import parse_device_status, parse_prediction
from contract.schemas.chunks import make_chunk
from edge_agent.agent import AgentSettings
from edge_agent.errors import EdgeError
from services.rollout.chunks import ChunkServer

from .conftest import NOW, blob_version, make_keys


def statuses(broker, device_id="dev-0001"):
    return [parse_device_status(p) for p in broker.messages(f"fleet/{device_id}/status")]


def ota_steps(broker, device_id="dev-0001"):
    return [s.ota.step for s in statuses(broker, device_id) if s.kind == "ota"]


def attach_server(broker, server: ChunkServer):
    from contract.transport import MemoryTransport

    transport = MemoryTransport(broker)
    transport.on_message = lambda topic, payload: (
        (reply := server.answer(topic, payload)) and transport.publish(*reply)
    )
    transport.start()
    transport.subscribe("fleet/+/ota/req")
    return transport


def test_predictions_are_valid_events_with_monotonic_sequence(memory_agent_factory):
    agent, broker = memory_agent_factory()
    events = [agent.handle_text(t) for t in ("上海仓库存预警通知", "您的包裹已签收", "hi")]
    wire = [parse_prediction(p) for p in broker.messages("fleet/dev-0001/pred")]
    assert wire == events
    assert [e.seq for e in wire] == [0, 1, 2]
    assert len({e.message_id for e in wire}) == 3
    assert all(e.model_version == 1 and e.device_id == "dev-0001" for e in wire)
    assert statuses(broker)[0].kind == "boot"


def test_offline_buffer_is_bounded_and_drops_are_reported(memory_agent_factory):
    agent, broker = memory_agent_factory(buffer_size=3)
    agent.transport.set_online(False)
    events = [agent.handle_text(f"订单{i}已发货") for i in range(5)]
    assert broker.messages("fleet/dev-0001/pred") == []
    agent.transport.set_online(True)  # reconnect flushes the newest three, in order
    wire = [parse_prediction(p) for p in broker.messages("fleet/dev-0001/pred")]
    assert wire == events[2:]
    errors = [s.error for s in statuses(broker) if s.kind == "error"]
    assert errors == ["dropped 2 predictions while offline (buffer full)"]


def test_settings_reject_bad_values():
    with pytest.raises(EdgeError, match="trusted_key"):
        AgentSettings(device_id="d", group="g", trusted_key=b"short")


def test_good_release_is_downloaded_staged_self_tested_and_confirmed(
    memory_agent_factory, release_factory
):
    agent, broker = memory_agent_factory(chunk_size=16_384)
    release = release_factory(2)
    attach_server(broker, ChunkServer({2: release.blob}))
    broker.route("fleet/groups/canary/ota", release.payload(), retain=True)
    assert agent.ota.last_result == "confirmed"
    steps = ota_steps(broker)
    assert steps[0] == "manifest_received" and steps[-4:] == [
        "verified", "staged", "self_test", "confirmed"
    ]  # fmt: skip
    assert "downloading" in steps
    assert agent.handle_text("上海仓库存预警通知").model_version == 2


@pytest.mark.parametrize("case", ["bad_signature", "older", "wrong_target", "unsigned"])
def test_bad_releases_are_refused_and_the_model_stays(memory_agent_factory, release_factory, case):
    agent, broker = memory_agent_factory()
    agent.device.provision(release_factory(3).blob, 3)
    release = {
        "bad_signature": lambda: release_factory(4, signer=make_keys()),
        "older": lambda: release_factory(2),
        "wrong_target": lambda: release_factory(4, target="esp32-tinylstm"),
        "unsigned": lambda: release_factory(4),
    }[case]()
    manifest = release.manifest
    if case == "unsigned":
        manifest = manifest.model_copy(update={"signature": None})
    attach_server(broker, ChunkServer({release.manifest.version: release.blob}))
    broker.route("fleet/dev-0001/ota/manifest", manifest.to_bytes(), retain=False)
    assert agent.ota.last_result == "rejected"
    assert ota_steps(broker) == ["rejected"]
    assert agent.model_version == 3
    assert broker.messages("fleet/dev-0001/ota/req") == []


def test_corrupt_chunks_are_refused_after_retries(memory_agent_factory, release_factory):
    agent, broker = memory_agent_factory()
    release = release_factory(2)

    class Corrupting(ChunkServer):
        def chunk_for(self, request):
            chunk = super().chunk_for(request)
            return chunk.model_copy(update={"crc32": chunk.crc32 ^ 1}) if chunk else None

    attach_server(broker, Corrupting({2: release.blob}))
    broker.route("fleet/groups/canary/ota", release.payload(), retain=True)
    assert agent.ota.last_result == "rejected"
    assert len(broker.messages("fleet/dev-0001/ota/req")) == 3
    assert agent.model_version == 1


def test_failed_self_test_reverts(memory_agent_factory, release_factory):
    agent, broker = memory_agent_factory(chunk_size=16_384)
    agent.device.fail_selftest = True
    release = release_factory(2)
    attach_server(broker, ChunkServer({2: release.blob}))
    broker.route("fleet/groups/canary/ota", release.payload(), retain=True)
    assert agent.ota.last_result == "reverted"
    assert agent.model_version == 1


def test_download_resumes_from_the_last_good_offset_after_reconnect(
    memory_agent_factory, release_factory
):
    agent, broker = memory_agent_factory(chunk_size=16_384)
    release = release_factory(2)
    server = ChunkServer({2: release.blob})
    # Deliver the first chunk by hand, then the device goes offline before asking again.
    broker.route("fleet/groups/canary/ota", release.payload(), retain=True)
    agent.transport.set_online(False)
    first = make_chunk(2, release.blob, 0, 16_384)
    agent.ota.on_chunk(first.to_bytes())
    assert agent.ota.offset == 16_384
    attach_server(broker, server)
    agent.transport.set_online(True)  # resume() asks from offset 16384
    assert agent.ota.last_result == "confirmed"
    offsets = [json.loads(p)["offset"] for p in broker.messages("fleet/dev-0001/ota/req")]
    assert offsets[:2] == [0, 16_384]  # the first request, then the resume point
    assert offsets[1:] == sorted(set(offsets[1:]))  # never restarted from 0


def _deliver(broker, release, topic="fleet/groups/canary/ota"):
    attach_server(broker, ChunkServer({release.manifest.version: release.blob}))
    broker.route(topic, release.payload(), retain=False)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda f: f(2, group=None), "no rollout grant"),  # the distiller's own manifest
        (lambda f: f(2, group="fleet"), "is for 'fleet'"),  # bound to another group
        (lambda f: f(2, device="dev-0009"), "is for 'dev-0009'"),  # to another device
        (lambda f: f(2, issued=NOW - 3600), "expired"),  # captured an hour ago
        (lambda f: f(2, revoked=(2,)), "revoked"),
    ],
)
def test_manifests_not_granted_to_this_device_now_are_refused(
    memory_agent_factory, release_factory, make, reason
):
    agent, broker = memory_agent_factory()
    _deliver(broker, make(release_factory))
    assert agent.ota.last_result == "rejected" and agent.model_version == 1
    [status] = [s for s in statuses(broker) if s.kind == "ota"]
    assert reason in (status.ota.reason or "")


def test_a_revoked_release_replayed_later_is_refused(memory_agent_factory, release_factory):
    """Release 3 was halted; the rollout manager's next grant (here on the release the device
    runs) revokes it, and a captured, not yet expired manifest of 3 is refused."""
    agent, broker = memory_agent_factory()
    agent.device.provision(release_factory(2).blob, 2)
    captured = release_factory(3, issued=NOW - 60)
    _deliver(broker, release_factory(2, revoked=(3,)))  # the restored group manifest
    assert agent.model_version == 2 and ota_steps(broker) == []  # already runs it
    _deliver(broker, captured)  # the replay
    assert agent.ota.last_result == "rejected" and agent.model_version == 2
    assert "revoked" in (statuses(broker)[-1].ota.reason or "")
    _deliver(broker, release_factory(3, issued=NOW - 30, revoked=()))  # an older grant
    assert agent.model_version == 2  # cannot undo the newer revocation


def test_a_revocation_stops_a_download_in_progress(memory_agent_factory, release_factory):
    agent, broker = memory_agent_factory(chunk_size=16_384)
    release = release_factory(2, issued=NOW - 60)
    broker.route("fleet/groups/canary/ota", release.payload(), retain=True)  # no chunk server
    assert agent.ota.manifest is not None
    broker.route("fleet/groups/canary/ota", release_factory(1, revoked=(2,)).payload(), True)
    assert agent.ota.manifest is None and agent.ota.last_result == "rejected"


def test_a_version_beyond_uint32_is_refused(memory_agent_factory, release_factory):
    agent, broker = memory_agent_factory()
    raw = release_factory(2).payload().replace(b'"version":2,', b'"version":4294967296,', 1)
    broker.route("fleet/groups/canary/ota", raw, retain=False)
    assert agent.ota.last_result == "rejected"
    assert "version" in (statuses(broker)[-1].ota.reason or "")


@pytest.mark.parametrize("data_b64", ["Î", "QUJD\n", "QQ", "x" * 30_000])
def test_a_chunk_with_hostile_base64_is_malformed_not_a_crash(
    memory_agent_factory, release_factory, data_b64
):
    """Found by benchmarks.fuzz_boundaries: a non-ASCII data_b64 raised out of on_chunk."""
    agent, broker = memory_agent_factory()
    release = release_factory(2)
    broker.route("fleet/groups/canary/ota", release.payload(), retain=False)  # no server
    chunk = make_chunk(2, release.blob, 0, 1024).model_dump(mode="json")
    for _ in range(3):
        agent.ota.on_chunk(json.dumps({**chunk, "data_b64": data_b64}).encode())
    assert agent.ota.last_result == "rejected" and agent.model_version == 1
    assert "malformed chunk" in (statuses(broker)[-1].ota.reason or "")


@pytest.mark.parametrize("device_kind", ["memory", "c"])
@pytest.mark.parametrize(
    ("offset", "value", "status"),
    [(4, 2, "TL_ERR_UNSUPPORTED"), (4, 4, "TL_ERR_UNSUPPORTED"),
     (27, 3, "TL_ERR_UNSUPPORTED_TOKENIZER")],
)  # fmt: skip
def test_blob_of_an_unsupported_version_is_refused_by_name_at_its_first_chunk(
    memory_agent_factory, release_factory, device_kind, offset, value, status
):
    """A release whose blob has a format or tokenizer version the firmware does not implement
    (signed and otherwise valid) is rejected after one chunk, naming the status; v1 stays."""
    agent, broker = memory_agent_factory(chunk_size=16_384)
    if device_kind == "c":
        from edge_agent.clib import CDevice

        agent.device = CDevice()
        agent.device.provision(blob_version(1), 1)
    blob = bytearray(blob_version(2))
    blob[offset] = value
    blob[-4:] = zlib.crc32(bytes(blob[:-4])).to_bytes(4, "little")
    release = release_factory(2, blob=bytes(blob))
    attach_server(broker, ChunkServer({2: release.blob}))
    broker.route("fleet/groups/canary/ota", release.payload(), retain=True)
    assert agent.ota.last_result == "rejected"
    assert ota_steps(broker) == ["manifest_received", "rejected"]
    reason = statuses(broker)[-1].ota.reason
    assert reason is not None and status in reason, reason
    assert len(broker.messages("fleet/dev-0001/ota/req")) == 1
    assert agent.model_version == 1
    assert agent.handle_text("上海仓库存预警通知").model_version == 1


def test_a_tagging_model_publishes_its_entities_in_v2_events(memory_agent_factory, tmp_path):
    """With a tagging section in the booted blob, every event is schema v2 and carries the
    entities (type, character span, text) the device decoded."""
    from pathlib import Path

    from edge_agent.memory import MemoryDevice

    blob = (Path(__file__).resolve().parents[1] / "golden/tagger/model_v1.blob").read_bytes()
    agent, broker = memory_agent_factory()
    device = MemoryDevice()
    device.provision(blob, 1)
    agent.device = device
    texts = ["您的快递 SF1234567890 已由顺丰送达上海", "order 12345 delayed at Berlin", "hi"]
    events = [agent.handle_text(t) for t in texts]
    wire = [parse_prediction(p) for p in broker.messages("fleet/dev-0001/pred")]
    assert wire == events
    assert all(e.schema_version == 2 for e in wire)
    for text, event in zip(texts, wire, strict=True):
        want = device.classify(text).entities
        assert [(e.type, e.start, e.end) for e in event.entities] == list(want or ())
        assert all(text[e.start : e.end] == e.text for e in event.entities)
    assert sum(len(e.entities) for e in wire) > 0
