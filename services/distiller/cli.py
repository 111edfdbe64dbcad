"""``fleet distiller run | once | seed``: continual distillation of the fleet's student."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.security.kafka import required

if TYPE_CHECKING:
    from services.distiller.settings import DistillerSettings

Opt = typer.Option
ConfigOpt = Annotated[Path | None, Opt(help="fleet.toml (default: $FLEET_CONFIG)")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Retrain, gate, sign and publish the student (settings: FLEET_DISTILLER_*).",
        no_args_is_help=True,
    )
    app.add_typer(group, name="distiller")

    @group.command("run")
    def run(config: ConfigOpt = None) -> None:
        """Run until SIGTERM: store labeled samples, retrain on schedule, drift or Redistill."""
        main(config)

    @group.command("once")
    def once(
        config: ConfigOpt = None,
        max_steps: Annotated[
            int | None, Opt(min=1, help="Training steps (default: settings)")
        ] = None,
        ingest: Annotated[bool, Opt(help="First store what distill.labeled holds")] = True,
    ) -> None:
        """Run one cycle now and print its gate result as JSON (exit 1 when it failed)."""
        import json

        service = build_service(load(config))
        if ingest:
            service.run_ingest(until_caught_up=True)
        from services.distiller.triggers import Trigger

        result = service.run_cycle(Trigger("manual", steps=max_steps))
        if result is None:
            typer.echo(json.dumps({"outcome": "failed"}))
            raise typer.Exit(code=1)
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))

    @group.command("seed")
    def seed(
        student: Annotated[Path, Opt(help="A trained student folder (fleet train student)")],
        profile_data: Annotated[Path, Opt(help="jsonl of held-out texts for the profile")],
        config: ConfigOpt = None,
        publish: Annotated[bool, Opt(help="Also publish the manifest to model.releases")] = True,
    ) -> None:
        """Store a trained student as the next release (1 in an empty store), signed."""
        from models.data.loaders import read_jsonl
        from services.distiller.release import seed_release
        from services.releases.announce import KafkaAnnouncer
        from services.releases.keys import load_or_create_key
        from services.releases.store import ReleaseStore

        s = load(config, kafka=publish)  # storing alone needs no broker account
        texts = [e.text for e in read_jsonl(profile_data)]
        manifest = seed_release(
            ReleaseStore(s.release_root), student, texts, load_or_create_key(s.keys_dir),
            s.target, s.min_firmware,
        )  # fmt: skip
        if publish:
            KafkaAnnouncer(required(s.kafka, "distiller"), s.releases_topic).publish(manifest)
        typer.echo(f"release {manifest.version} stored in {s.release_root}" +
                   (f", published to {s.releases_topic}" if publish else ""))  # fmt: skip


def load(config: Path | None, kafka: bool = True) -> DistillerSettings:
    """Distiller settings from FleetSettings (paths under the stack's data dir) + environment;
    ``kafka=False`` leaves the broker account unset (commands that only touch local files)."""
    from contract.topics import TOPIC_NAMES
    from services.distiller.settings import DistillerSettings
    from services.security.access import Access
    from services.settings import load_settings

    fleet = load_settings(config)
    return DistillerSettings(
        kafka=Access(fleet).kafka_for("distiller") if kafka else None,
        prometheus_url=fleet.prometheus_url,
        metrics_port=fleet.metrics_ports.distiller,
        labeled_topic=TOPIC_NAMES["labeled"],
        data_dir=fleet.data_dir / "distiller",
        release_root=fleet.data_dir / "releases",
        keys_dir=fleet.data_dir / "keys",
    )


def build_service(s: Any) -> Any:  # DistillerSettings -> DistillerService
    import functools

    import torch

    from services.distiller.cycle import ReplaySet
    from services.distiller.metrics import DistillerMetrics
    from services.distiller.samples import SqliteSampleStore
    from services.distiller.service import DistillerService
    from services.distiller.traffic import recent_texts
    from services.distiller.triggers import PrometheusDrift
    from services.releases.announce import KafkaAnnouncer
    from services.releases.keys import load_or_create_key
    from services.releases.store import ReleaseStore

    torch.set_num_threads(s.torch_threads)
    kafka = required(s.kafka, "the distiller")
    replay = (
        ReplaySet.load(s.replay_path, s.replay_valid_path, s.replay_valid_share, s.replay_valid_max)
        if s.replay_path is not None
        else None
    )
    drift = (
        PrometheusDrift(s.prometheus_url, s.drift_query, s.drift_hold_s)
        if s.drift_source == "prometheus"
        else None
    )
    traffic = (
        functools.partial(recent_texts, kafka, s.predictions_topic, s.profile_sample)
        if s.profile_sample > 0
        else None
    )
    return DistillerService(
        s, SqliteSampleStore(s.data_dir / "samples.sqlite3"), ReleaseStore(s.release_root),
        replay, load_or_create_key(s.keys_dir), KafkaAnnouncer(kafka, s.releases_topic),
        drift, DistillerMetrics.create(), traffic=traffic,
    )  # fmt: skip


def main(config: Path | None = None) -> None:
    import logging
    import signal

    from prometheus_client import start_http_server

    from services.releases.announce import AnnounceError, published_versions

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    s = load(config)
    service = build_service(s)
    signal.signal(signal.SIGTERM, lambda *_: service.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: service.stop_event.set())
    if s.metrics_port:
        start_http_server(s.metrics_port, s.metrics_host, registry=service.metrics.registry)
    latest = service.releases.latest()
    try:  # a release stored before a crash, its manifest never acknowledged: publish it now
        published = published_versions(required(s.kafka, "distiller"), s.releases_topic)
        if latest is not None and latest not in published:
            service.unpublished = latest
    except AnnounceError as exc:
        logging.getLogger(__name__).warning("cannot check published releases: %s", exc)
    service.run()
