"""The boundaries ``fuzz_boundaries`` feeds: each is set up once on the project's in-memory
doubles (or, for the ops API, the real aiohttp application in-process) and judges one
generated input as ``("accepted" | "refused" | "ignored", reason)``. A crash is an exception
out of the boundary, an HTTP 500, or a record the rollout manager had to skip as poison.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.errors import ValidationError
from contract.schemas import examples

Outcome = tuple[str, str]  # ("accepted" | "refused" | "ignored", reason)
Judge = Callable[[Any], Outcome]
NOW = 1_800_000_000.0  # the devices' and the rollout manager's clock
CHUNK = 64  # bytes per OTA chunk the device asks for: a dozen chunks of the tiny blob


class Crash(Exception):
    """The boundary failed in a way a hostile input must never cause."""


class _Logged(logging.Handler):
    """The last message logged while judging one input: the refusal's reason."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""

    @property
    def warned(self) -> bool:
        return bool(self.last)

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


def _listen(name: str) -> _Logged:
    handler = _Logged()
    logging.getLogger(name).addHandler(handler)  # warnings reach it at the default level
    return handler


def _reason(parse: Callable[[bytes], Any], raw: bytes) -> str:
    try:
        parse(raw)
    except ValidationError as exc:
        return exc.reason
    return ""


# -- MQTT payloads at the gateway -------------------------------------------------------------


def gateway_mqtt() -> Judge:
    from contract.schemas import parse_device_status, parse_prediction
    from contract.schemas.dlq import parse_dlq_record
    from services.gateway.bridge import Bridge, Topics
    from services.gateway.guard import DeviceGuard
    from services.gateway.metrics import GatewayMetrics
    from services.gateway.sink import MemorySink

    sink, metrics = MemorySink(), GatewayMetrics()
    bridge = Bridge(sink, Topics("pred", "status", "dlq"), metrics, "fuzz",
                    guard=DeviceGuard(0, 1, metrics.registry))  # fmt: skip
    parsers = {"pred": parse_prediction, "status": parse_device_status}

    def judge(item: tuple[str, bytes]) -> Outcome:
        topic, payload = item
        before = len(sink.records)
        bridge.submit(topic, payload, lambda: None)
        if len(sink.records) != before + 1 or bridge.in_flight != 0:
            raise Crash("the message was not stored exactly once and acknowledged")
        record = sink.records[-1]
        if record.topic == "dlq":
            return "refused", parse_dlq_record(record.value).reason
        parsers[record.topic](record.value)  # what was forwarded parses
        return "accepted", ""

    return judge


# -- ops API bodies ----------------------------------------------------------------------------


def ops_api() -> Judge:
    from aiohttp.test_utils import TestClient, TestServer

    from services.control.auth import Tokens
    from services.control.metrics import ControlMetrics
    from services.control.releases import ReleaseFeed
    from services.control.service import Control, create_app
    from services.control.sink import MemoryCommandSink
    from services.releases.store import ReleaseStore

    class NoFeed(ReleaseFeed):
        def published(self):
            return []

        def rollouts(self):
            return []

    control = Control(
        sink=MemoryCommandSink(), feed=NoFeed(), store=ReleaseStore(Path(tempfile.mkdtemp())),
        tokens=Tokens(ops="ops-token", read="read-token", alerts="alerts-token"),
        metrics=ControlMetrics.create(),
    )  # fmt: skip
    loop = asyncio.new_event_loop()
    return _OpsApi(TestClient(TestServer(create_app(control)), loop=loop), loop)


OPS_HEADERS = {"Authorization": "Bearer ops-token", "Content-Type": "application/json"}


class _OpsApi:
    """The control API's aiohttp application served in-process; ``close`` (called by the
    runner when the boundary is done) stops its server, client session and event loop."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.client, self.loop = client, loop
        self.loop.run_until_complete(client.start_server())

    async def _post(self, kind: str, body: bytes) -> tuple[int, str]:
        response = await self.client.post(f"/api/v1/{kind}", data=body, headers=OPS_HEADERS)
        return response.status, await response.text()

    def __call__(self, item: tuple[str, bytes]) -> Outcome:
        status, text = self.loop.run_until_complete(self._post(*item))
        if status == 202:
            return "accepted", ""
        if status == 400:
            return "refused", json.loads(text)["error"]
        raise Crash(f"HTTP {status}: {text[:200]}")

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


# -- manifests and OTA chunk sequences at the device -------------------------------------------


def _agent(key: Ed25519PrivateKey, chunk_size: int = CHUNK):
    from contract.transport import MemoryBroker, MemoryTransport
    from edge_agent.agent import Agent, AgentSettings
    from edge_agent.memory import MemoryDevice
    from services.releases.keys import public_bytes

    device = MemoryDevice()
    device.provision(tiny_blob(1), 1)
    settings = AgentSettings(device_id="dev-0001", group="canary", trusted_key=public_bytes(key),
                             chunk_size=chunk_size, max_chunk_failures=3)  # fmt: skip
    broker = MemoryBroker()
    agent = Agent(settings, device, MemoryTransport(broker), clock=lambda: NOW)
    agent.start()
    return agent, broker


@functools.cache
def tiny_blob(version: int) -> bytes:
    """A tiny valid model (the firmware blob fuzzer's seed model) as release ``version``: its
    self-test runs in microseconds, so an install costs what the protocol costs."""
    import importlib.util

    from models.blob import write_blob
    from services.settings import REPO_ROOT

    path = REPO_ROOT / "firmware" / "tools" / "make_fuzz_seeds.py"
    spec = importlib.util.spec_from_file_location("make_fuzz_seeds", path)
    assert spec is not None and spec.loader is not None
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    return write_blob(seeds.tiny_model(1, 16, 3, 2, 3), model_version=version)


def release(key: Ed25519PrivateKey, version: int = 2) -> tuple[bytes, Any]:
    """Release ``version`` of the tiny model, its manifest bound to group canary."""
    import hashlib
    from datetime import UTC, datetime

    from contract.signing import bind

    blob = tiny_blob(version)
    manifest = examples.release_manifest(version).model_copy(update={
        "sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob),
        "target": "stm32f405-tinylstm", "created": datetime.now(UTC),
    })  # fmt: skip
    return blob, bind(manifest, key, now=NOW - 10, ttl_s=3600, group="canary")


STATUS_TOPIC = "fleet/dev-0001/status"


def _ota_steps(broker: Any, since: int = 0) -> list[Any]:
    """The OTA steps the device reported in its status messages from number ``since`` on
    (parsing only the new ones keeps a run of 10 000 inputs linear, not quadratic)."""
    from contract.schemas import parse_device_status

    statuses = [parse_device_status(p) for p in broker.messages(STATUS_TOPIC)[since:]]
    return [s.ota for s in statuses if s.kind == "ota" and s.ota is not None]


def device_manifest(key: Ed25519PrivateKey) -> Judge:
    """``key`` signs the genuine manifests the inputs are made from; the device trusts it."""
    agent, broker = _agent(key)

    def judge(payload: bytes) -> Outcome:
        seen = len(broker.messages(STATUS_TOPIC))
        agent.ota.on_manifest(payload)
        new = _ota_steps(broker, seen)
        agent.ota.manifest = None  # forget an accepted download: the next input starts clean
        if any(s.step == "rejected" for s in new):
            return "refused", next(s.reason or "" for s in new if s.step == "rejected")
        if any(s.step == "manifest_received" for s in new):
            return "accepted", ""
        return "ignored", "the release it runs"

    return judge


def device_ota_chunks() -> Judge:
    """One input is a sequence of chunks after a genuine manifest: the right next chunk, one
    with a field replaced, or raw bytes. A corrupt blob must never be confirmed."""
    from contract.schemas.chunks import make_chunk

    key = Ed25519PrivateKey.generate()
    blob, manifest = release(key)

    agent, broker = _agent(key)

    def judge(steps: list[tuple[str, Any]]) -> Outcome:
        nonlocal agent, broker
        if agent.model_version != 1:  # the last sequence installed the release: start over
            agent, broker = _agent(key)
        agent.ota.manifest, agent.ota.last_result = None, None
        seen = len(broker.messages(STATUS_TOPIC))
        agent.ota.on_manifest(manifest.to_bytes())
        for kind, value in steps:
            good = make_chunk(2, blob, agent.ota.offset, agent.settings.chunk_size)
            if kind == "good":
                payload = good.to_bytes() if good else b"{}"
            elif kind == "field" and good is not None:
                name, new = value
                payload = json.dumps({**good.model_dump(mode="json"), name: new}).encode()
            else:
                payload = value if isinstance(value, bytes) else b"{}"
            agent.ota.on_chunk(payload)
        result = agent.ota.last_result
        if result == "confirmed":
            device = agent.device
            if agent.model_version != 2 or device.slots[device.active] != blob:
                raise Crash("a blob other than the release's was confirmed")
            return "accepted", ""
        if result in ("rejected", "reverted"):
            return "refused", _ota_steps(broker, seen)[-1].reason or ""
        return "ignored", "download not finished"

    return judge


# -- Kafka records at each consumer ------------------------------------------------------------


def processor_records() -> Judge:
    from contract.schemas import parse_prediction
    from services.processor.admission import Admission, refusal
    from services.processor.aggregator import Aggregator
    from services.processor.metrics import ProcessorMetrics
    from services.processor.releases import ReferenceStore
    from services.processor.settings import ProcessorSettings

    settings = ProcessorSettings(metrics_port=0, window_s=10)
    references = ReferenceStore()
    references.apply(examples.release_manifest(1).to_bytes())
    metrics = ProcessorMetrics.create()
    admission = Admission(settings, references, metrics)
    aggregator = Aggregator(settings, metrics, references, {}, {}, {}, {})

    def judge(raw: bytes) -> Outcome:
        try:
            event = parse_prediction(raw)
        except ValidationError as exc:
            return "refused", exc.reason
        counted, may_sample = admission.check(event, NOW)
        if not counted:
            return "refused", refusal(event, references) or ""
        aggregator.on_prediction(event, NOW, 0, None, may_sample=may_sample)
        return "accepted", ""

    return judge


def labeler_records() -> Judge:
    import math

    from contract.schemas import parse_label_request
    from services.labeler.batch import Attempts, label_batch, new_requests
    from services.labeler.metrics import LabelerMetrics
    from services.labeler.teacher import KeywordLabeler

    metrics, attempts = LabelerMetrics.create(), Attempts(3)
    labeler = KeywordLabeler(examples.LABELS)

    def judge(raw: bytes) -> Outcome:
        fresh = new_requests([raw], set(), metrics)
        if not fresh:
            return "refused", _reason(parse_label_request, raw)
        label_batch([r for _, r in fresh], labeler, metrics, attempts, math.inf)
        return "accepted", ""

    return judge


def distiller_records() -> Judge:
    from contract.schemas import parse_labeled_sample, parse_ops_command
    from services.distiller.metrics import DistillerMetrics
    from services.distiller.samples import MemorySampleStore
    from services.distiller.service import DistillerService
    from services.distiller.settings import DistillerSettings
    from services.releases.announce import MemoryAnnouncer
    from services.releases.store import ReleaseStore

    service = DistillerService(
        DistillerSettings(), MemorySampleStore(), ReleaseStore(Path(tempfile.mkdtemp())), None,
        Ed25519PrivateKey.generate(), MemoryAnnouncer(), None, DistillerMetrics.create(),
    )  # fmt: skip

    def judge(item: tuple[str, bytes]) -> Outcome:
        topic, raw = item
        if topic == "labeled":
            service.ingest([raw], [])
            reason = _reason(parse_labeled_sample, raw)
        else:
            service.ingest([], [raw])
            reason = _reason(parse_ops_command, raw)
        return ("refused", reason) if reason else ("accepted", "")

    return judge


def _rollout_manager():
    from contract.transport import MemoryBroker
    from services.releases.announce import MemoryAnnouncer
    from services.releases.keys import public_bytes
    from services.releases.store import ReleaseStore
    from services.rollout.adapters import (
        MemoryManifestPublisher,
        MemoryStateStore,
    )
    from services.rollout.chunks import ChunkServer
    from services.rollout.manager import RolloutManager
    from services.rollout.metrics import RolloutMetrics
    from services.rollout.settings import RolloutSettings

    key = Ed25519PrivateKey.generate()
    settings = RolloutSettings(metrics_port=0)
    groups = {"dev-0001": "canary", "dev-0002": "canary", "dev-0003": "fleet"}
    return RolloutManager(
        settings, ReleaseStore(Path(tempfile.mkdtemp())), public_bytes(key), key, groups,
        MemoryManifestPublisher(MemoryBroker()), MemoryStateStore(), MemoryAnnouncer(),
        ChunkServer(), RolloutMetrics.create(), clock=lambda: NOW,
    )  # fmt: skip


def rollout_records(topic_of: Callable[[Any], str], parse: Callable[[bytes], Any]) -> Judge:
    manager = _rollout_manager()
    logged = _listen("services.rollout")
    topic = topic_of(manager.settings)
    poison = {"topic": topic}

    def judge(raw: bytes) -> Outcome:
        logged.last = ""
        before = manager.metrics.registry.get_sample_value(
            "fleet_rollout_poison_records_total", poison
        )
        manager.handle(topic, raw, "fuzz")
        manager.flush()
        after = manager.metrics.registry.get_sample_value(
            "fleet_rollout_poison_records_total", poison
        )
        if after != before:
            raise Crash(f"skipped as poison: {logged.last}")
        reason = _reason(parse, raw)
        if reason:
            return "refused", reason
        return ("refused", logged.last) if logged.warned else ("accepted", "")

    return judge
