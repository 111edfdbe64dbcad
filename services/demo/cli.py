"""Command line of the demo: ``python -m services.demo [--quick] [options]``."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from services.demo.config import AUTO, FULL, QUICK, QUICK_AUTO


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.demo", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="12 devices, 24 s phases, the corpus oracle as teacher, short retrain (~3 min)",
    )
    parser.add_argument(
        "--auto",
        action="store_true",
        help="no command: two drifts (phase 2, then 3), each answered by the distiller's drift "
        "trigger -> gate -> canary -> fleet (~15 min; with --quick ~5 min)",
    )
    parser.add_argument("--devices", type=int, help="simulated devices")
    parser.add_argument("--rate", type=float, help="predictions per second per device")
    parser.add_argument("--phase-seconds", type=float, help="seconds of each traffic phase")
    parser.add_argument("--teacher", help="e5-small | oracle | keyword | a teacher folder")
    parser.add_argument("--var-dir", type=Path, help="cache and logs (default var/demo)")
    return parser.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when every published prediction reached Kafka and the loop closed (a
    signed release 2 runs on every device), 1 otherwise."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rich.console import Console

    from models.errors import ConfigError
    from services.demo.run import run
    from services.demo.summary import delivery_ok, loop_closed
    from services.errors import ServiceError

    args = parse_args(argv)
    config = {(False, False): FULL, (True, False): QUICK, (False, True): AUTO,
              (True, True): QUICK_AUTO}[(args.quick, args.auto)]  # fmt: skip
    overrides = {
        "devices": args.devices,
        "rate_hz": args.rate,
        "phase0_s": args.phase_seconds,
        "drift_s": args.phase_seconds,
        "after_s": args.phase_seconds,
        "teacher": args.teacher,
        "var_dir": args.var_dir,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    console = Console(record=True)  # saved next to the plots: <var_dir>/summary/summary.txt
    try:
        result = run(config, console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the services the demo started were stopped")
        return 130
    except (ServiceError, ConfigError) as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        return 1
    return 0 if delivery_ok(result) and loop_closed(result) else 1
