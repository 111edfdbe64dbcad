"""The faust app: two agents around the :class:`Aggregator`.

1. ``ingest`` reads ``fleet.predictions`` (keyed by device), validates each record and
   forwards it, with its Kafka timestamp, to the internal ``<app_id>-by-version`` topic
   keyed by model version, so every window of one model version is aggregated in one
   place (faust's ``group_by`` pattern, written out so invalid records can be counted).
2. ``aggregate`` reads that topic and updates the changelog-backed tables. A timer sends an
   empty "tick" record to every partition of it; handling a tick closes that partition's
   due windows (drift gauges, label requests to ``distill.label-requests``).

``references`` is filled by a :class:`ReleaseFollower` that the caller starts. Faust's own sensors
(``faust.sensors.prometheus``) report on the same registry as the processor's metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import StreamT, TableT

from contract.errors import ValidationError
from contract.schemas import parse_prediction
from services.processor.admission import Admission
from services.processor.aggregator import Aggregator
from services.processor.consumer import transport_class
from services.processor.metrics import PREFIX, ProcessorMetrics
from services.processor.releases import ReferenceStore
from services.processor.settings import ProcessorSettings
from services.security.kafka import required

log = logging.getLogger(__name__)
TICK_KEY = b"\x00tick"
NOT_A_CANDIDATE = "fleet-not-a-candidate"  # header: its device's labeling budget is spent


def build_app(
    settings: ProcessorSettings, metrics: ProcessorMetrics, references: ReferenceStore
) -> faust.App:
    kafka = required(settings.kafka, "the processor")
    app = faust.App(
        settings.app_id,
        broker=kafka.faust_broker,
        broker_credentials=kafka.faust_credentials(),
        datadir=str(settings.data_dir),
        store="memory://",  # tables are rebuilt from their changelog topics on start
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        web_enabled=False,
        broker_commit_every=500,
        broker_commit_interval=1.0,
        producer_acks=-1,  # a label request or changelog write counts once all replicas have it
    )
    # before any topic exists: the conductor binds the transport when the first one is made
    by_version_name = f"{settings.app_id}-by-version"
    app.transport = transport_class(
        frozenset({settings.predictions_topic, by_version_name}),
        on_reseek=lambda tp, _committed, _lowest: metrics.reseeks.labels(tp.topic).inc(),
    )(app.conf.broker_consumer, app)
    app.monitor = PrometheusMonitor(
        metrics=FaustMetrics.create(metrics.registry, f"{PREFIX}_faust")
    )
    raw: dict[str, Any] = {  # bytes in, bytes out: the schemas parse and serialise
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    source = app.topic(settings.predictions_topic, **raw)
    by_version = app.topic(by_version_name, partitions=settings.partitions, internal=True, **raw)
    requests = app.topic(settings.label_requests_topic, **raw)

    def table(name: str) -> TableT[str, Any]:
        return app.Table(name, default=None, partitions=settings.partitions, key_type=str)

    aggregator = Aggregator(
        settings=settings,
        metrics=metrics,
        references=references,
        seen=table("seen"),
        windows=table("windows"),
        pools=table("pools"),
        closed=table("closed"),
    )

    admission = Admission(settings, references, metrics)

    @app.agent(source)
    async def ingest(stream: StreamT[bytes]) -> None:  # 1. validate, admit, re-key by version
        while not references.ready.is_set():  # releases are known before anything is judged
            await asyncio.sleep(0.1)
        async for event in stream.events():
            try:
                prediction = parse_prediction(event.value)
            except ValidationError as exc:
                metrics.invalid.inc()
                log.debug("invalid prediction record: %s", exc.reason)
                continue
            ts = event.message.timestamp
            counted, may_sample = admission.check(prediction, ts)
            if not counted:
                continue
            await by_version.send(
                key=str(prediction.model_version).encode(),
                value=event.value,
                timestamp=ts,
                headers=None if may_sample else {NOT_A_CANDIDATE: b"1"},
            )

    @app.agent(by_version)
    async def aggregate(stream: StreamT[bytes]) -> None:  # 2. windows, drift, sampling
        async for event in stream.events():
            partition = event.message.partition
            if event.key == TICK_KEY:
                for closed in aggregator.due(partition):
                    # deliver the window's label requests before its state is dropped
                    pending = [
                        await requests.send(key=r.message_id.encode(), value=r.to_bytes())
                        for r in closed.requests
                    ]
                    for delivery in pending:
                        await delivery
                    aggregator.finish(closed)
                aggregator.expire(partition)
                continue
            prediction = parse_prediction(event.value)  # validated by ingest
            aggregator.on_prediction(
                prediction, event.message.timestamp, partition, event.message.offset,
                may_sample=NOT_A_CANDIDATE not in (event.headers or {}),
            )  # fmt: skip

    @app.timer(settings.tick_s)  # type: ignore[untyped-decorator]  # faust: @no_type_check
    async def tick() -> None:
        now = time.time()
        for partition in range(settings.partitions):
            await by_version.send(key=TICK_KEY, value=b"", partition=partition, timestamp=now)

    return app
