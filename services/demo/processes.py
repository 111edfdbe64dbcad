"""The services the demo starts: each a ``fleet <service> run`` subprocess in its own process
group, logging to ``var/demo/logs/<name>.log``, stopped with SIGTERM (SIGKILL after a grace)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from services.errors import ServiceError
from services.settings import REPO_ROOT


class ServiceProcess:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path, port: int):
        self.name, self.args, self.env, self.log, self.port = name, args, env, log, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *self.args],
                cwd=REPO_ROOT,
                env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only the demo, which stops us in order
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.is_file() else ""

    def check_alive(self) -> None:
        if self.proc is not None and not self.running:
            raise ServiceError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")

    def serves_metrics(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2):
                return True
        except OSError:
            return False

    def wait_for(self, check: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            if check():
                return
            time.sleep(0.5)
        raise ServiceError(f"{self.name}: timed out waiting for {what}:\n{self.tail()}")

    def stop(self, timeout_s: float = 60) -> int | None:
        """SIGTERM the process group, wait, SIGKILL if it hangs; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def skip_backlog(bootstrap: str, group_id: str, topics: list[str]) -> int:
    """Move ``group_id``'s committed offsets to the end of ``topics`` and of every partition it
    has committed before (faust's internal topics); returns how many records were skipped.

    The demo's services use their own consumer groups, so this leaves the records for any
    other group; it only keeps a backlog from earlier runs out of the demo's live windows."""
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.admin import OffsetSpec
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        committed = admin.list_group_offsets({group_id: None}).get(group_id, {})
        partitions = set(committed)
        for topic in topics:
            for meta in admin.describe_topics([topic]):
                indexes = [p["partition_index"] for p in meta["partitions"]]
                partitions |= {TopicPartition(topic, index) for index in indexes}
        if not partitions:
            return 0
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        skipped = sum(
            max(ends[tp].offset - max(committed[tp].offset, 0), 0) if tp in committed else 0
            for tp in partitions
        )
        admin.reset_group_offsets(group_id, {tp: OffsetSpec.LATEST for tp in partitions})
        return skipped
    except KafkaError as exc:
        raise ServiceError(f"could not move {group_id}'s offsets past its backlog: {exc}") from exc
    finally:
        admin.close()
