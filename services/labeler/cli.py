"""``fleet labeler run``: the teacher labels low-confidence samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.errors import ConfigError
from services.labeler.settings import LabelerSettings
from services.labeler.teacher import Labeler

Opt = typer.Option
LLM_API_KEY_ENV = "FLEET_LLM_API_KEY"  # bearer token of an llm: teacher (as fleet teacher label)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Teacher labeling of sampled predictions.", no_args_is_help=True)
    app.add_typer(group, name="labeler")

    @group.command("run")
    def run(
        config: Annotated[Path | None, Opt(help="fleet.toml (default: $FLEET_CONFIG)")] = None,
        teacher: Annotated[
            str | None,
            Opt(help="keyword | llm:<base_url>#<model> | <teacher dir> (overrides settings)"),
        ] = None,
        labels: Annotated[
            str | None, Opt(help="Comma-separated label set (required with an llm: teacher)")
        ] = None,
    ) -> None:
        """Run the labeler until SIGTERM (settings: FLEET_LABELER_* environment)."""
        main(config, teacher=teacher, labels=labels)


def build_labeler(settings: LabelerSettings, api_key: str | None = None) -> Labeler:
    """``settings.teacher``: ``keyword`` -> the in-memory double; ``llm:<base_url>#<model>``
    -> a chat-completions endpoint (``api_key`` as bearer token); anything else -> a
    fine-tuned teacher folder."""
    from contract.schemas.examples import LABELS
    from services.labeler.teacher import (
        LLM_PREFIX,
        LOGISTICS_KEYWORDS,
        KeywordLabeler,
        LlmLabeler,
        TeacherLabeler,
        parse_llm_teacher,
    )

    teacher = settings.teacher
    if teacher == "keyword":
        labels = settings.labels or LABELS
        keywords = {k: v for k, v in LOGISTICS_KEYWORDS.items() if k in labels}
        return KeywordLabeler(labels, keywords)
    if teacher.startswith(LLM_PREFIX):
        from models.errors import ModelsError
        from models.teacher.llm import ChatLabeler, LLMConfig

        base_url, model = parse_llm_teacher(teacher)
        if not settings.labels:
            raise ConfigError("an llm: teacher needs its label set: --labels a,b,c")
        try:
            # one try per request here: the service counts tries per request (max_attempts)
            # and bounds a batch's time with llm_timeout_s
            config = LLMConfig(
                base_url=base_url, model=model, api_key=api_key,
                timeout_s=settings.llm_timeout_s, max_attempts=1,
            )  # fmt: skip
            chat = ChatLabeler(config, settings.labels)
        except ModelsError as exc:
            raise ConfigError(f"LLM teacher {teacher!r}: {exc}") from exc
        return LlmLabeler(chat, f"llm:{model}@{base_url}"[:128], settings.llm_smoothing)
    from models.teacher import Teacher

    encoder = Teacher.load(teacher)  # a fine-tuned folder (encoder + head + labels)
    return TeacherLabeler(encoder, teacher_id=str(getattr(encoder, "teacher_id", teacher))[-128:])


def main(config: Path | None = None, teacher: str | None = None, labels: str | None = None) -> None:
    import logging
    import os
    import signal

    from prometheus_client import start_http_server

    from services.labeler.metrics import LabelerMetrics
    from services.labeler.service import LabelerService
    from services.security.access import Access
    from services.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    fleet = load_settings(config)
    settings = LabelerSettings(
        kafka=Access(fleet).kafka_for("labeler"), metrics_port=fleet.metrics_ports.labeler
    )
    cli: dict[str, object] = {"teacher": teacher}
    if labels is not None:
        cli["labels"] = tuple(s.strip() for s in labels.split(",") if s.strip())
    # command-line options win over the environment
    settings = settings.model_copy(update={k: v for k, v in cli.items() if v is not None})
    labeler = build_labeler(settings, api_key=os.environ.get(LLM_API_KEY_ENV))
    metrics = LabelerMetrics.create()
    service = LabelerService(settings, labeler, metrics)
    signal.signal(signal.SIGTERM, lambda *_: service.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: service.stop_event.set())
    if settings.metrics_port:
        start_http_server(settings.metrics_port, settings.metrics_host, registry=metrics.registry)
    service.run()
