"""``mqttload`` (``mqttload.c``, libmosquitto): publish prediction events from device
accounts at a fixed rate or flat out, optionally subscribing to them too; returns its JSON.

``make setup`` builds the binary into ``var/bin/mqttload`` (Debian's ``libmosquitto-dev``);
:func:`binary` builds it when the source is newer, so a checkout without it still runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from services.settings import REPO_ROOT

SOURCE = Path(__file__).resolve().parent / "mqttload.c"
BINARY = REPO_ROOT / "var" / "bin" / "mqttload"


def binary() -> Path:
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not Path("/usr/include/mosquitto.h").exists():
        raise RuntimeError("mqttload needs a C compiler and libmosquitto-dev: run `make setup`")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [cc, "-O2", "-Wall", "-std=gnu11", "-o", str(BINARY), str(SOURCE),
         "-lmosquitto", "-lpthread"],
        check=True,
    )  # fmt: skip
    return BINARY


def event_body() -> str:
    """The fields of a prediction event that do not change per message, as a JSON fragment
    (what the generator puts between the message id and the timestamp)."""
    from contract.schemas import examples

    event = examples.prediction_event("x", seq=1).model_dump(mode="json")
    for field in ("schema_version", "device_id", "seq", "message_id", "ts"):
        event.pop(field)
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)[1:-1]


def run(
    host: str,
    port: int,
    accounts: list[tuple[str, str]],
    count: int,
    run_id: str,
    rate: float = 0.0,
    subscriber: tuple[str, str, str] | None = None,  # (username, password, share group)
    sub_port: int | None = None,  # the subscriber's listener (services), default ``port``
    cafile: Path | None = None,  # the stack's CA: TLS (None: plain listeners)
    window: int = 100,
    timeout_s: float = 300.0,
) -> dict:
    """Publish ``count`` events round-robin from ``accounts`` (username, password)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accounts"
        lines = [f"{u} {p}" for u, p in accounts]
        if subscriber is not None:
            lines.append(f"{subscriber[0]} {subscriber[1]}")
        path.write_text("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        argv = [
            str(binary()), "--host", host, "--port", str(port), "--accounts", str(path),
            "--count", str(count), "--rate", str(rate), "--run-id", run_id,
            "--body", event_body(), "--window", str(window), "--timeout", str(timeout_s),
        ]  # fmt: skip
        if subscriber is not None:
            argv += ["--sub", subscriber[0], "--share", subscriber[2]]
            argv += ["--sub-port", str(sub_port or port)]
        if cafile is not None:
            argv += ["--cafile", str(cafile)]
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s + 60, check=False
        )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"mqttload failed ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout)
