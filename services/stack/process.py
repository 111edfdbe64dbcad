"""Background processes of the local stack: one process group each, a pid file, a log.

Each component runs detached in its own session (so its process group id is its pid and
``fleet stack down`` from another shell can stop the whole group). The pid file records
the pid; a pid is trusted only while ``/proc/<pid>/cmdline`` still contains the
component's marker, so a stale file whose pid was reused is reported, not killed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.errors import StackError

# Children started by this Python process, so they can be reaped (no zombies in tests).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class ManagedProcess:
    """A detached process identified by a pid file and a command-line marker."""

    name: str  # component name, used in messages
    run_dir: Path  # var/<component>/ : pid file and log live here
    marker: str  # a string unique to this instance's command line (e.g. its config path)
    pid_file: Path = field(init=False)
    log_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.pid_file = self.run_dir / f"{self.name}.pid"
        self.log_file = self.run_dir / f"{self.name}.log"

    def recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def pid(self) -> int | None:
        """The pid when the recorded process is alive and is ours, else None."""
        pid = self.recorded_pid()
        if pid is None or not _alive(pid):
            return None
        return pid if self.marker in _cmdline(pid) else None

    def is_stale(self) -> bool:
        """A pid file exists but its process is gone or is something else now."""
        return self.pid_file.exists() and self.pid() is None

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.is_stale():
            self.pid_file.unlink()
        with self.log_file.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {argv}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own session and process group (pgid == pid)
                    env=env,
                    cwd=self.run_dir,
                )
            except OSError as exc:
                raise StackError(f"cannot start {self.name} ({argv[0]}): {exc}") from exc
        _CHILDREN[proc.pid] = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid

    def exited(self) -> int | None:
        """Exit code when a process started here has already died, else None."""
        pid = self.recorded_pid()
        proc = _CHILDREN.get(pid) if pid is not None else None
        if proc is not None:
            return proc.poll()
        return None if pid is not None and _alive(pid) else -1

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the whole process group: SIGTERM, wait, then SIGKILL. True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _group_alive(pid):
                _reap(pid)
                time.sleep(0.1)
        _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        if _group_alive(pid):
            raise StackError(f"{self.name} (process group {pid}) survived SIGKILL")
        return True

    def signal(self, signum: int) -> None:
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signum)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _reap(pid: int) -> None:
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        _CHILDREN.pop(pid, None)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    if state == "Z":  # zombie: dead, waiting to be reaped
        _reap(pid)
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """Any live, non-zombie process still in process group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # fields: state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return _alive(pgid)


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port`` (a bind would fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise StackError(f"cannot probe {host}:{port}: {exc}") from exc
    return False


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
