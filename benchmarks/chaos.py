"""Chaos run: predictions through the whole path while services crash and brokers restart.

A private stack (Kafka with SASL/SCRAM over TLS and ACLs, Mosquitto with TLS; own data dir
and free ports, so a shared stack is untouched) runs the gateway, the processor, the
labeler (keyword teacher), the distiller and the rollout manager, each as its own Kafka
principal, as ``fleet <service> run`` subprocesses. ``mqttload`` (benchmarks/loadgen, QoS 1
from simulated device accounts; a QoS 1 message not yet acknowledged is resent after a
reconnect, like a device's offline buffer) publishes ``--messages`` predictions at
``--rate``. Meanwhile, at seeded random moments, a fault: SIGKILL of one service's process
group and a restart (waiting until it is ready again), or a restart of Kafka or Mosquitto
(``fleet stack down``/``up`` of that component). Every target is hit at least once. A
service that exits on its own is restarted too (as a supervisor would) and reported.

Then, per message id of the run: is it on ``fleet.predictions`` (read as admin), and how many
times did the processor count it? The processor's windows are read from their changelog
(the last value of each window: its event count, also of windows already closed) and
summed; ``seen``'s changelog names the ids it deduplicated against. Prints JSON: lost (ids
not on ``fleet.predictions``), duplicated after dedup (window counts above the distinct ids),
not counted (distinct ids above the window counts), total.

The windows' grace (``--grace-s``) must exceed the longest outage plus the time the processor
needs to work off the backlog it leaves: a record that reaches the processor after its window
closed is counted as late, not in its window (by design); the default keeps every window of
the run open.

Run: ``nice -n 10 python -m benchmarks.chaos --messages 100000 --seed 1``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import loadgen
from benchmarks.harness.chaos_stack import ChaosStack, ServiceSet

SERVICES = ("gateway", "processor", "labeler", "distiller", "rollout")
BROKERS = ("kafka", "mosquitto")
TARGETS = SERVICES + BROKERS


@dataclass(frozen=True)
class ChaosConfig:
    messages: int = 100_000  # predictions published
    rate: float = 300.0  # offered, msg/s over all devices
    devices: int = 40  # simulated device accounts publishing round-robin
    faults: int = 14  # kills and restarts; the first len(targets) hit each target once
    targets: tuple[str, ...] = TARGETS  # what may fail; the services not named are not run,
    # except the gateway and the processor (the path that is counted)
    seed: int = 1  # fault order and moments
    window_s: float = 10.0  # the processor's tumbling window
    # ... closes this long after its end: above the longest outage plus the backlog that the
    # processor works off after it (on a loaded 2-core machine it falls minutes behind)
    grace_s: float = 3600.0
    settle_s: float = 120.0  # after the load: give up when nothing new arrives this long


@dataclass
class Fault:
    target: str
    at_s: float  # since the load started
    recovered_s: float = 0.0  # until the target was ready again


@dataclass
class ChaosLog:
    faults: list[Fault] = field(default_factory=list)
    unplanned_exits: dict[str, int] = field(default_factory=dict)  # restarted by the supervisor
    error: str | None = None  # the fault thread failed


def fault_plan(config: ChaosConfig, duration_s: float) -> list[tuple[float, str]]:
    """(moment in seconds after the load started, target), sorted; every target once first."""
    rng = random.Random(config.seed)
    targets = rng.sample(config.targets, len(config.targets))
    targets += [rng.choice(config.targets) for _ in range(config.faults - len(targets))]
    moments = sorted(rng.uniform(0.05, 0.85) * duration_s for _ in targets)
    return list(zip(moments, targets, strict=True))


def _inject(stack: ChaosStack, services: ServiceSet, plan, started: float, log: ChaosLog,
            stop: threading.Event) -> None:  # fmt: skip
    """Run the plan: each fault at its moment, or right after the previous one recovered."""
    try:
        for at_s, target in plan:
            if stop.wait(max(0.0, started + at_s - time.monotonic())):
                return
            fault = Fault(target, round(time.monotonic() - started, 1))
            t0 = time.monotonic()
            if target in BROKERS:
                stack.restart(target)
            else:
                services.kill(target)
            services.supervise(log.unplanned_exits)  # restart the killed one (and any other)
            fault.recovered_s = round(time.monotonic() - t0, 1)
            log.faults.append(fault)
    except Exception as exc:  # reported in the result; the main thread goes on
        log.error = f"{type(exc).__name__}: {exc}"


def _until_settled(read: Callable[[], int], target: int, settle_s: float,
                   tick: Callable[[], None]) -> int:  # fmt: skip
    """Call ``read`` (a growing count) until it reaches ``target`` or stops growing for
    ``settle_s``; ``tick`` keeps the services running in between."""
    best, last_progress = -1, time.monotonic()
    while True:
        value = read()
        if value > best:
            best, last_progress = value, time.monotonic()
        if value >= target or time.monotonic() - last_progress > settle_s:
            return value
        tick()
        time.sleep(1.0)


def _runs(seqs: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for seq in seqs:
        if out and seq == out[-1][1] + 1:
            out[-1] = (out[-1][0], seq)
        else:
            out.append((seq, seq))
    return out


def run(config: ChaosConfig, work_dir: Path) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    stack = ChaosStack(work_dir)
    log = ChaosLog()
    began = time.monotonic()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = round(time.monotonic() - began - sum(phases.values()), 1)

    with stack:
        phase("stack_up")
        version = stack.publish_release()
        names = [s for s in SERVICES if s in config.targets or s in ("gateway", "processor")]
        services = ServiceSet(stack, names, work_dir / "logs", config.window_s, config.grace_s)
        with services:
            services.start_all()
            phase("services_start")
            duration_s = config.messages / config.rate
            plan = fault_plan(config, duration_s)
            stop = threading.Event()
            started = time.monotonic()
            injector = threading.Thread(
                target=_inject, args=(stack, services, plan, started, log, stop), daemon=True
            )
            injector.start()
            load = loadgen.run(
                stack.settings.stack.host, stack.settings.stack.mosquitto.port,
                stack.device_accounts(config.devices), config.messages, run_id, config.rate,
                cafile=stack.settings.ca_file, timeout_s=3 * duration_s + 900,
            )  # fmt: skip
            load_s = time.monotonic() - started
            phase("load")
            injector.join()  # the plan ends before the load does, unless faults ran long
            stop.set()
            phase("faults_after_load")
            services.supervise(log.unplanned_exits)
            tag = f"-{run_id}-"
            predictions = stack.reader("fleet.predictions", lambda r: tag in r["message_id"])
            _until_settled(
                predictions.poll_distinct, config.messages, config.settle_s,
                lambda: services.supervise(log.unplanned_exits),
            )  # fmt: skip
            distinct = predictions.ids()
            windows = stack.windows_reader()
            counted = _until_settled(
                windows.poll_counted, len(distinct), config.settle_s,
                lambda: services.supervise(log.unplanned_exits),
            )  # fmt: skip
            seen = stack.seen_ids()
            dlq = stack.reader(
                "fleet.predictions.dlq",
                lambda r: tag in base64.b64decode(r["payload_b64"]).decode(errors="replace"),
                key=lambda r: r["reason"][:80],
            )
            dlq.poll_distinct()
            for tail in (predictions, windows, dlq):
                tail.close()
            phase("drain_and_read")
    phase("stop")
    expected = {f"sim-{i % config.devices:04d}-{run_id}-{i}" for i in range(config.messages)}
    not_seen = sorted(distinct - {s.split("/", 1)[1] for s in seen})
    lost = sorted(expected - distinct, key=lambda m: int(m.rsplit("-", 1)[1]))
    runs = _runs([int(m.rsplit("-", 1)[1]) for m in lost])
    return {
        "benchmark": "chaos",
        "total": config.messages,
        "lost": len(lost),
        # contiguous runs of lost messages: [first, last] in publish order and when the first
        # was due (seconds after the load started, at --rate), to set beside the faults
        "lost_runs": [[a, b, round(a / config.rate, 1)] for a, b in runs[:20]],
        "lost_sample": lost[:5],
        "duplicated_after_dedup": max(0, counted - len(distinct)),
        "not_counted": max(0, len(distinct) - counted),
        "counted_in_windows": counted,
        "windows": windows.windows(),
        "on_fleet_predictions": len(distinct),
        "kafka_records": predictions.records,  # above distinct: redeliveries the dedup removed
        "dead_lettered": dlq.records,  # of this run's messages, by the gateway
        "dead_letter_reasons": sorted(dlq.ids()),
        "not_in_seen": not_seen[:20],
        "publisher": {k: load.get(k) for k in ("acked", "reconnects", "publish_s")},
        "load_s": round(load_s, 1),
        "elapsed_s": round(time.monotonic() - began, 1),
        "phases_s": phases,
        "faults": [asdict(f) for f in log.faults],
        "faults_during_load": sum(f.at_s < load_s for f in log.faults),
        "unplanned_exits": log.unplanned_exits,
        "fault_error": log.error,
        "model_version": version,
        "config": asdict(config),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = ChaosConfig()
    for name, value in asdict(defaults).items():
        if name != "targets":
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = vars(parser.parse_args(argv))
    keep = args.pop("keep")
    args["targets"] = tuple(t for t in args["targets"].split(",") if t)
    config = ChaosConfig(**args)
    unknown = set(config.targets) - set(TARGETS)
    if unknown or config.faults < len(config.targets) or not 0 < config.rate < math.inf:
        parser.error(f"targets among {TARGETS}, --faults >= their number, --rate > 0 needed")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the stack on SIGTERM too
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    try:
        print(json.dumps(run(config, work), indent=2), flush=True)
    finally:
        if not keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs: {work / 'logs'}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
