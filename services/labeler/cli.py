"""``fleet labeler run``: the teacher labels low-confidence samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Teacher labelling of sampled predictions.", no_args_is_help=True)
    app.add_typer(group, name="labeler")

    @group.command("run")
    def run(
        config: Annotated[Path | None, Opt(help="fleet.toml (default: $FLEET_CONFIG)")] = None,
    ) -> None:
        """Run the labeler until SIGTERM (settings: FLEET_LABELER_* environment)."""
        main(config)


def build_labeler(teacher: str):
    """``keyword`` -> the in-memory double; anything else -> a fine-tuned teacher folder."""
    from services.labeler.teacher import LOGISTICS_KEYWORDS, KeywordLabeler, TeacherLabeler
    from services.schemas.examples import LABELS

    if teacher == "keyword":
        return KeywordLabeler(LABELS, LOGISTICS_KEYWORDS)
    from models.teacher import Teacher

    model = Teacher.load(teacher)  # a fine-tuned folder (encoder + head + labels)
    return TeacherLabeler(model, teacher_id=str(getattr(model, "teacher_id", teacher))[-128:])


def main(config: Path | None = None) -> None:
    import logging
    import signal

    from prometheus_client import start_http_server

    from services.labeler.service import LabelerMetrics, LabelerService
    from services.labeler.settings import LabelerSettings
    from services.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    fleet = load_settings(config)
    settings = LabelerSettings(
        bootstrap=fleet.kafka_bootstrap, metrics_port=fleet.metrics_ports.labeler
    )
    metrics = LabelerMetrics.create()
    service = LabelerService(settings, build_labeler(settings.teacher), metrics)
    signal.signal(signal.SIGTERM, lambda *_: service.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: service.stop_event.set())
    if settings.metrics_port:
        start_http_server(settings.metrics_port, settings.metrics_host, registry=metrics.registry)
    service.run()
