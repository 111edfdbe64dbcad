"""``fleet stack up | down | status``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from services.stack.stack import Stack

COMPONENTS_ARG = Annotated[
    list[str] | None,
    typer.Argument(help="Components (kafka, mosquitto, prometheus, alertmanager); default: all."),
]
CONFIG_OPT = Annotated[
    str | None, typer.Option("--config", "-c", help="Settings TOML (default ./fleet.toml).")
]

STATE_STYLE = {"up": "green", "down": "red", "starting": "yellow", "stale": "magenta"}


def _stack(config: str | None) -> Stack:
    from pathlib import Path

    from services.settings import load_settings
    from services.stack.stack import Stack

    return Stack(load_settings(Path(config) if config else None))


def print_status(stack: Stack) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"fleet stack ({stack.settings.stack.data_dir})")
    for column in ("component", "state", "pid", "ports", "version", "detail"):
        table.add_column(column)
    for status in stack.status():
        style = STATE_STYLE.get(status.state, "")
        table.add_row(
            status.name,
            f"[{style}]{status.state}[/]",
            str(status.pid or "-"),
            ", ".join(f"{n} {stack.settings.stack.host}:{p}" for n, p in status.ports.items()),
            status.version,
            status.detail,
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    from models.errors import ConfigError
    from services.errors import ServiceError

    stack_app = typer.Typer(
        help="Start, stop and inspect the local Kafka, Mosquitto, Prometheus and Alertmanager.",
        no_args_is_help=True,
    )
    app.add_typer(stack_app, name="stack")

    def fail(exc: ServiceError | ConfigError) -> None:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)

    @stack_app.command()
    def up(components: COMPONENTS_ARG = None, config: CONFIG_OPT = None) -> None:
        """Start the stack (reusing what already runs) and create the Kafka topics."""
        try:
            stack = _stack(config)
            started = stack.up(components)
        except (ServiceError, ConfigError) as exc:
            fail(exc)
            return
        typer.echo(f"started: {', '.join(started) or 'nothing (all were up)'}")
        print_status(stack)

    @stack_app.command()
    def down(components: COMPONENTS_ARG = None, config: CONFIG_OPT = None) -> None:
        """Stop the stack; no process is left behind."""
        try:
            stopped = _stack(config).down(components)
        except (ServiceError, ConfigError) as exc:
            fail(exc)
            return
        typer.echo(f"stopped: {', '.join(stopped) or 'nothing (none was running)'}")

    @stack_app.command()
    def status(config: CONFIG_OPT = None) -> None:
        """Each component: up/down, pid, ports, version."""
        try:
            print_status(_stack(config))
        except (ServiceError, ConfigError) as exc:
            fail(exc)
