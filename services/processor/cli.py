"""``fleet processor run``: the stream processor as a faust worker."""

from __future__ import annotations

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

    worker = Worker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        follower.stop()
