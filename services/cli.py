"""The ``fleet`` command line: one Typer app; each area registers its own command group.

Heavy imports (torch, transformers, kafka) happen inside the commands, so ``fleet --help``
and ``fleet stack status`` start fast.
"""

from __future__ import annotations

import importlib
import os

import typer

# Each module exposes ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "services.stack.cli",
    "models.cli.student",
    "models.cli.data",
    "services.gateway.cli",
    "services.devices.cli",
    "models.cli.export",
    "services.processor.cli",
    "services.labeler.cli",
    "models.cli.teacher",
    "models.cli.distill",
    "services.distiller.cli",
    "services.control.cli",
    "services.rollout.cli",
    "services.status.cli",
    "services.devices.classify",
    "services.k8s.cli",
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="fleet",
        help="Continual distillation for a fleet of int8 BiLSTM microcontrollers.",
        no_args_is_help=True,
        add_completion=False,
    )
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    return app


def main() -> None:
    # Spinning OpenMP threads slow torch's LSTM ~20x on small, shared machines; set before any
    # command imports torch.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    build_app()()


if __name__ == "__main__":
    main()
