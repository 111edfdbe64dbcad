"""A minimal faust app for the integration test: one agent, one table.

It counts records per key in a table and, after each update, sends ``{"key", "count"}`` to
an output topic so the test can watch the table from outside. Configured by environment
(this is a test subprocess, not a service): FAUST_TEST_APP_ID, FAUST_TEST_DATADIR,
FAUST_TEST_INPUT, FAUST_TEST_OUTPUT, FAUST_TEST_READY (a file created once the worker
recovered its table and streams run). Kafka as the processor's account, with SASL and TLS
as the processor's app has them (the tests' ``FLEET_SECURITY__KAFKA_ACCOUNT`` makes that
the stack's admin).

It reads through the processor's consumer (``services.processor.consumer``), as the project
does: stock faust 0.15 can lose a record sent while a restarted worker recovers. That consumer
may deliver a record again after seeking back, so the agent applies each offset once (the
next offset to apply is kept in the table, as the processor's windows keep theirs).

Run: ``python -m tests.integration.faust_app``
"""

from __future__ import annotations

import os
from pathlib import Path

import faust

from services.processor.consumer import transport_class
from services.security.access import Access
from services.settings import load_settings

INPUT = os.environ["FAUST_TEST_INPUT"]
NEXT_OFFSET = "\x00next-offset"  # table key: the input offset after the last one applied

kafka = Access(load_settings()).kafka_for("processor")
app = faust.App(
    os.environ["FAUST_TEST_APP_ID"],
    broker=kafka.faust_broker,
    broker_credentials=kafka.faust_credentials(),
    datadir=os.environ["FAUST_TEST_DATADIR"],
    store="memory://",  # state is rebuilt from the changelog topic on restart
    topic_partitions=1,
    topic_replication_factor=1,
    web_enabled=False,
    broker_commit_every=1,
    broker_commit_interval=0.5,
    table_cleanup_interval=5.0,
)
# before any topic exists: the conductor binds the transport when the first one is made
app.transport = transport_class(frozenset({INPUT}))(app.conf.broker_consumer, app)

source = app.topic(
    INPUT, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw"
)
sink = app.topic(
    os.environ["FAUST_TEST_OUTPUT"],
    key_type=bytes,
    value_type=bytes,
    value_serializer="json",
    key_serializer="raw",
)
counts = app.Table("counts", default=int, partitions=1, key_type=str, value_type=int)


@app.agent(source)
async def count(stream):
    async for event in stream.events():
        offset = event.message.offset
        if offset < counts[NEXT_OFFSET]:
            continue  # read again after a seek back: applied before
        name = event.key.decode()
        counts[name] += 1
        counts[NEXT_OFFSET] = offset + 1
        await sink.send(key=event.key, value={"key": name, "count": counts[name]})


class Worker(faust.Worker):
    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        Path(os.environ["FAUST_TEST_READY"]).touch()


if __name__ == "__main__":
    Worker(app, loglevel="info", quiet=True).execute_from_commandline()
