"""faust-streaming 0.15 against Kafka 3.9: an agent updates a table whose state survives a
worker restart (rebuilt from the changelog topic).

The app reads through the processor's consumer (the project's way of running faust), and the
test waits for readiness signals, never for fixed times: the worker's own "recovered and
streaming" callback before sending, the group's committed offset before a restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from services.security.kafka import KafkaAccess
from services.settings import REPO_ROOT

pytestmark = pytest.mark.integration
WAIT_S = 180.0  # a bound for a broken run, not a timing assertion


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the worker and return once it recovered its table and runs its agent."""
    ready = Path(env["FAUST_TEST_READY"])
    ready.unlink(missing_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.faust_app"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait(lambda: ready.exists(), proc, log, "the worker to be ready")
    return proc


def _wait(done: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Until ``done()``; fails when the worker dies or after a generous bound (no progress)."""
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert proc.poll() is None, f"worker died:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} in {WAIT_S}s:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def _stop_worker(proc: subprocess.Popen[bytes]) -> int:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=10)


def test_faust_table_survives_worker_restart(stack, kafka_topic_factory, tmp_path):
    from kafka import TopicPartition

    input_topic = kafka_topic_factory(partitions=1)
    output_topic = kafka_topic_factory(partitions=1)
    app_id = f"fleet-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "FAUST_TEST_APP_ID": app_id,
        "FAUST_TEST_DATADIR": str(tmp_path / "faust"),
        "FAUST_TEST_INPUT": input_topic,
        "FAUST_TEST_OUTPUT": output_topic,
        "FAUST_TEST_READY": str(tmp_path / "ready"),
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    log = tmp_path / "worker.log"
    # reads the worker's committed offsets (never subscribes, so never joins its group)
    group = stack.kafka.consumer(group_id=app_id, enable_auto_commit=False)
    producer = stack.kafka.producer(acks="all")
    consumer = stack.kafka.consumer(
        output_topic, auto_offset_reset="earliest", enable_auto_commit=False
    )

    def send(key: str, n: int) -> None:
        for _ in range(n):
            producer.send(input_topic, key=key.encode(), value=b"{}")
        producer.flush(timeout=30)

    def read_counts(n: int, proc: subprocess.Popen[bytes]) -> list[tuple]:
        out: list[tuple] = []

        def got_all() -> bool:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    body = json.loads(record.value)
                    out.append((body["key"], body["count"]))
            return len(out) >= n

        _wait(got_all, proc, log, f"{n} counts (got {out})")
        return out

    def committed(n: int) -> Callable[[], bool]:
        """True once the worker's group committed the first ``n`` input offsets."""
        return lambda: (group.committed(TopicPartition(input_topic, 0)) or 0) >= n

    try:
        worker = _start_worker(env, log)
        try:
            send("dev-0001", 3)
            send("dev-0002", 1)
            first = read_counts(4, worker)
            assert sorted(first) == [
                ("dev-0001", 1),
                ("dev-0001", 2),
                ("dev-0001", 3),
                ("dev-0002", 1),
            ]
            # the restart must not redo the first records: wait until they are committed
            _wait(committed(4), worker, log, "the first 4 offsets to be committed")
        finally:
            assert _stop_worker(worker) == 0, log.read_text()[-3000:]

        worker = _start_worker(env, log)
        try:
            send("dev-0001", 2)
            second = read_counts(2, worker)
            # the table was restored: counting continues instead of starting from 1
            assert second == [("dev-0001", 4), ("dev-0001", 5)]
        finally:
            assert _stop_worker(worker) == 0, log.read_text()[-3000:]
    finally:
        producer.close()
        consumer.close()
        group.close()
        _delete_internal_topics(stack.kafka, app_id)


def _delete_internal_topics(kafka: KafkaAccess, app_id: str) -> None:
    """faust creates <app_id>-... changelog and assignor topics; do not leave them behind."""

    admin = kafka.admin()
    try:
        internal = [t for t in admin.list_topics() if t.startswith(f"{app_id}-")]
        if internal:
            admin.delete_topics(internal, timeout_ms=30_000)
    finally:
        admin.close()
