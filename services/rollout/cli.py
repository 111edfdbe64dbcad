"""``fleet rollout run | status``: the rollout manager and its persisted state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Staged OTA rollouts: canary first, then the fleet.",
                        no_args_is_help=True)  # fmt: skip
    app.add_typer(group, name="rollout")

    @group.command("run")
    def run(
        config: Annotated[Path | None, Opt(help="fleet.toml (default: $FLEET_CONFIG)")] = None,
    ) -> None:
        """Run the rollout manager until SIGTERM (settings: FLEET_ROLLOUT_* environment)."""
        from services.rollout.service import main

        raise typer.Exit(main(config))

    @group.command("status")
    def status(
        config: Annotated[Path | None, Opt(help="fleet.toml (default: $FLEET_CONFIG)")] = None,
        version: Annotated[int | None, Opt(help="only this release")] = None,
    ) -> None:
        """Print the persisted rollout state (model.rollouts) as JSON, newest release first."""
        import json

        from services.rollout.service import settings_from_fleet
        from services.rollout.state import read_records
        from services.security.access import Access
        from services.settings import load_settings

        access = Access(load_settings(config))
        settings = settings_from_fleet(access)
        records = read_records(access.kafka_for("monitor"), settings.state_topic)
        chosen = [r for v, r in sorted(records.items(), reverse=True) if version in (None, v)]
        typer.echo(json.dumps([r.model_dump(mode="json") for r in chosen], indent=2,
                              ensure_ascii=False))  # fmt: skip
