"""``fleet stack up | down | status``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    stack = typer.Typer(help="Start, stop and inspect the local Kafka, Mosquitto and Prometheus.")
    app.add_typer(stack, name="stack")
