"""Run a service CLI (``fleet processor run``, ``fleet labeler run``) as a subprocess with
its settings in the environment, and read its ``/metrics``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from services.security.kafka import KafkaAccess
from services.settings import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """One ``python -m services.cli <args>`` process; ``restart()`` keeps env and log."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, metrics_port: int) -> None:
        self.args, self.env, self.log, self.metrics_port = args, env, log, metrics_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *self.args],
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning", **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return 0 if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the process group: a crash, no shutdown hooks."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> ServiceProcess:
        self.stop()
        return self.start()

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Current samples: (name, sorted labels) -> value; empty while not serving."""
        assert self.proc is not None and self.proc.poll() is None, f"died:\n{self.tail()}"
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return {}
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def wait_for(
        self, check: Callable[[], bool], what: str, timeout_s: float = 60, every_s: float = 0.3
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(every_s)
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.tail()}")


def delete_topics_with_prefix(kafka: KafkaAccess, prefix: str) -> None:
    """faust creates <app_id>-... changelog and repartition topics; do not leave them."""

    admin = kafka.admin()
    try:
        topics = [t for t in admin.list_topics() if t.startswith(prefix)]
        if topics:
            admin.delete_topics(topics, timeout_ms=30_000)
    finally:
        admin.close()
