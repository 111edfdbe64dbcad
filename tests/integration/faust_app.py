"""A minimal faust app for the integration test: one agent, one table.

It counts records per key in a table and, after each update, sends ``{"key", "count"}`` to
an output topic so the test can watch the table from outside. Configured by environment
(this is a test subprocess, not a service):
FAUST_TEST_BROKER, FAUST_TEST_APP_ID, FAUST_TEST_DATADIR, FAUST_TEST_INPUT, FAUST_TEST_OUTPUT.

Run: ``python -m tests.integration.faust_app worker -l warning``
"""

from __future__ import annotations

import os

import faust

app = faust.App(
    os.environ["FAUST_TEST_APP_ID"],
    broker=f"kafka://{os.environ['FAUST_TEST_BROKER']}",
    datadir=os.environ["FAUST_TEST_DATADIR"],
    store="memory://",  # state is rebuilt from the changelog topic on restart
    topic_partitions=1,
    topic_replication_factor=1,
    web_enabled=False,
    broker_commit_every=1,
    broker_commit_interval=0.5,
    table_cleanup_interval=5.0,
)

source = app.topic(
    os.environ["FAUST_TEST_INPUT"],
    key_type=bytes,
    value_type=bytes,
    value_serializer="raw",
    key_serializer="raw",
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
    async for key, _value in stream.items():
        name = key.decode()
        counts[name] += 1
        await sink.send(key=key, value={"key": name, "count": counts[name]})


if __name__ == "__main__":
    app.main()
