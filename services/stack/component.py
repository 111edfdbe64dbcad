"""The abstract base every local stack component (Kafka, Mosquitto, Prometheus) implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from services.errors import StackError
from services.settings import FleetSettings
from services.stack.process import ManagedProcess, port_in_use, port_open


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str  # "up", "down", "starting" (running, not answering yet) or "stale" (pid file)
    pid: int | None
    ports: dict[str, int]
    version: str
    detail: str = ""


class Component(ABC):
    """One background daemon of the stack, started and stopped by :class:`Stack`."""

    name: str  # short name; also the folder under the data dir

    def __init__(self, settings: FleetSettings) -> None:
        self.settings = settings
        self.host = settings.stack.host
        self.run_dir: Path = settings.stack.data_dir / self.name
        self.process = ManagedProcess(self.name, self.run_dir, marker=str(self.run_dir))

    @abstractmethod
    def ports(self) -> dict[str, int]:
        """Listener name -> port; all must be free before a start."""

    @abstractmethod
    def prepare(self) -> None:
        """Runs before every start: write generated config, format storage on first use.
        Raises StackError when a prerequisite (binary, jars) is missing."""

    @abstractmethod
    def argv(self) -> list[str]:
        """The command line of the daemon (must contain ``self.run_dir`` as the marker)."""

    @abstractmethod
    def probe(self) -> bool:
        """True once the daemon answers a real request; called repeatedly while starting."""

    @abstractmethod
    def version(self) -> str:
        """The daemon's version, for ``fleet stack status``."""

    @property
    @abstractmethod
    def start_timeout_s(self) -> float:
        """How long :meth:`wait_ready` waits for :meth:`probe` before giving up."""

    def after_ready(self) -> None:
        """Runs after every successful start or reuse (e.g. create topics). Idempotent."""
        return None

    def refresh(self) -> None:
        """Runs when the daemon is already up: re-render config and make it reload."""
        return None

    def needs_restart(self) -> bool:
        """True when the running daemon was started with settings it cannot reload (e.g.
        other listeners): ``up`` then stops and starts it instead of reusing it."""
        return False

    # -- lifecycle, shared ---------------------------------------------------------------

    def start(self) -> int:
        """Start the daemon detached; raise StackError on occupied ports or stale state."""
        busy = [
            f"{name} {self.host}:{port}"
            for name, port in self.ports().items()
            if port_in_use(self.host, port)
        ]
        if busy:
            raise StackError(
                f"{self.name}: port(s) already in use by another process: {', '.join(busy)}. "
                f"Stop that process (see `ss -ltnp`) or choose other ports in fleet.toml / "
                f"FLEET_STACK__{self.name.upper()}__PORT."
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        return self.process.start(self.argv())

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            code = self.process.exited()
            if code is not None:
                raise StackError(
                    f"{self.name} exited (code {code}) while starting; last log lines of "
                    f"{self.process.log_file}:\n{self.process.log_tail()}"
                )
            if self.probe():
                return
            time.sleep(0.25)
        raise StackError(
            f"{self.name} did not become ready within {self.start_timeout_s:.0f}s; last log "
            f"lines of {self.process.log_file}:\n{self.process.log_tail()}"
        )

    def status(self, deep: bool = True) -> ComponentStatus:
        """``deep``: ask the daemon a real request (``probe``); else its ports merely accept
        connections (cheap enough for a page that refreshes)."""
        pid = self.process.pid()
        if pid is None:
            state = "stale" if self.process.is_stale() else "down"
            detail = (
                f"stale pid file {self.process.pid_file} (pid {self.process.recorded_pid()} "
                "is not running); `fleet stack up` replaces it"
                if state == "stale"
                else ""
            )
        else:
            answers = (
                self.probe()
                if deep
                else all(port_open(self.host, port) for port in self.ports().values())
            )
            state, detail = ("up", "") if answers else ("starting", "not answering yet")
        try:
            version = self.version()
        except StackError as exc:
            version, detail = "?", str(exc)
        return ComponentStatus(self.name, state, pid, self.ports(), version, detail)
