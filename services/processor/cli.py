"""``fleet processor run``: the stream processor as a faust worker."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Stream processor: dedup, windows, drift, label sampling.", no_args_is_help=True
    )
    app.add_typer(group, name="processor")

    @group.command("run")
    def run(
        config: Annotated[Path | None, Opt(help="fleet.toml (default: $FLEET_CONFIG)")] = None,
        loglevel: Annotated[str, Opt(help="faust worker log level")] = "info",
    ) -> None:
        """Run the processor until interrupted (settings: FLEET_PROCESSOR_* environment)."""
        main(config, loglevel)


STOP_TIMEOUT_S = 60.0  # a stopping worker that is still alive after this exits with 1


def exit_if_stuck(timeout_s: float) -> threading.Timer:
    """Exit the process with status 1 unless it ends within ``timeout_s``: its state is in
    Kafka (changelogs, committed offsets), so a supervisor's restart loses nothing."""

    def stuck() -> None:
        logging.getLogger(__name__).error("stop hung for %.0f s: exiting", timeout_s)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(timeout_s, stuck)
    timer.daemon = True  # a clean exit does not wait for it
    timer.start()
    return timer


def main(config: Path | None = None, loglevel: str = "info") -> None:
    import faust
    from prometheus_client import start_http_server

    from services.processor.metrics import ProcessorMetrics
    from services.processor.releases import ReferenceStore, ReleaseFollower
    from services.processor.service import build_app
    from services.processor.settings import ProcessorSettings
    from services.security.access import Access
    from services.security.kafka import required
    from services.settings import load_settings

    fleet = load_settings(config)
    settings = ProcessorSettings(
        kafka=Access(fleet).kafka_for("processor"),
        metrics_port=fleet.metrics_ports.processor,
        data_dir=fleet.data_dir / "processor",
    )
    metrics = ProcessorMetrics.create()
    references = ReferenceStore()
    follower = ReleaseFollower(
        required(settings.kafka, "the processor"), settings.releases_topic, references,
        metrics.releases_known.set,
    )  # fmt: skip
    follower.start()
    app = build_app(settings, metrics, references)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, settings.metrics_host, registry=metrics.registry)

    class Worker(faust.Worker):
        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            metrics.worker_ready.set(1)

        async def on_stop(self) -> None:
            # not ready from the first moment of a stop, and out of the process if the stop
            # hangs: a crashed fetcher's stop waited forever for its streams, a process that
            # served /metrics and counted nothing (found by benchmarks/chaos.py)
            metrics.worker_ready.set(0)
            exit_if_stuck(STOP_TIMEOUT_S)
            await super().on_stop()

    worker = Worker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        follower.stop()
