"""``fleet devices sim|provision`` and ``fleet device run``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from edge_agent.errors import EdgeError

if TYPE_CHECKING:
    from services.settings import FleetSettings

Opt = typer.Option
CONFIG = Annotated[Path | None, Opt("--config", "-c", help="fleet.toml (default ./fleet.toml)")]
KEY = Annotated[
    Path | None,
    Opt(help="trusted Ed25519 public key (raw 32 bytes or PEM); default <data_dir>/keys/"),
]


def trusted_key(settings: FleetSettings, path: Path | None) -> bytes:
    """The release public key devices trust (default ``<data_dir>/keys/release.pub``). A device
    only reads it: the signing side (``fleet distiller seed``, the distiller, the rollout
    manager) creates the key pair, never the device."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    if path is None:
        path = settings.data_dir / "keys" / "release.pub"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EdgeError(
            f"no trusted release key at {path}: create the signing pair first (e.g. "
            "`fleet distiller seed`) or pass --key"
        ) from None
    if len(data) == 32:
        return data
    try:
        return load_pem_public_key(data).public_bytes(Encoding.Raw, PublicFormat.Raw)
    except (ValueError, TypeError) as exc:
        raise EdgeError(f"{path} is neither a raw 32-byte nor a PEM public key: {exc}") from exc


def _trusted(settings: FleetSettings, path: Path | None) -> bytes:
    try:
        return trusted_key(settings, path)
    except EdgeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--key") from exc


def default_blob() -> tuple[bytes, int]:
    from models.blob import read_blob
    from services.settings import REPO_ROOT

    # the default student's golden blob (hash embedding, last pooling; firmware's DEFAULT_BLOB)
    blob = (REPO_ROOT / "tests" / "golden" / "intlstm_v2_last" / "model.blob").read_bytes()
    return blob, read_blob(blob).model_version


def sim_devices(access: Any, accounts: Sequence[Any]) -> list[Any]:
    """Registry devices as the simulator runs them, each with its own broker account
    (``access``: :class:`services.security.access.Access`)."""
    from edge_agent.simulator import SimDevice

    return [SimDevice(d.id, d.group, access.mqtt(d.id)) for d in accounts]


def register(app: typer.Typer) -> None:
    devices = typer.Typer(help="Simulated device fleet.", no_args_is_help=True)
    device = typer.Typer(help="One device agent.", no_args_is_help=True)

    @devices.command("provision")
    def provision(
        count: Annotated[int, Opt(help="simulated devices sim-0000.. in the registry")],
        config: CONFIG = None,
    ) -> None:
        """Set the registry's simulated device count, give new devices their secrets and
        reload Mosquitto's accounts."""
        from services.security.secrets import ensure_secrets
        from services.settings import load_settings
        from services.stack import Stack
        from services.stack.registry import load_registry

        settings = load_settings(config)
        path = settings.stack.registry
        text = path.read_text(encoding="utf-8")
        if re.search(r"(?m)^\[simulated\]", text):
            text = re.sub(r"(?ms)(^\[simulated\].*?^count\s*=\s*)\d+", rf"\g<1>{count}", text)
        else:
            text += f'\n[simulated]\ncount = {count}\nprefix = "sim"\ngroup = "fleet"\n'
        path.write_text(text, encoding="utf-8")
        registry = load_registry(path)  # validate before the broker sees it
        ensure_secrets(settings.secrets_file, mqtt=registry.account_names())
        mosquitto = Stack(settings).mosquitto
        if mosquitto.process.pid() is not None:
            mosquitto.refresh()
        typer.echo(f"{path}: {count} simulated devices")

    @devices.command("sim")
    def sim(
        devices_n: Annotated[int, Opt("--devices", help="simulated devices")] = 200,
        rate: Annotated[float, Opt(help="messages per second, whole fleet")] = 100.0,
        phase: Annotated[
            str, Opt(help="drift phase 0, 1 or 2, or a schedule like 0:60,2 (phase:seconds,...)")
        ] = "0",
        duration: Annotated[float | None, Opt(help="seconds to run")] = None,
        count: Annotated[int | None, Opt(help="messages to send")] = None,
        key: KEY = None,
        config: CONFIG = None,
    ) -> None:
        """Run N devices with the real C engine, publishing predictions, with a live table."""
        from rich.live import Live
        from rich.table import Table

        from edge_agent.simulator import (
            Fleet,
            SimCounts,
            SimSettings,
            parse_phases,
            synthetic_texts,
        )
        from services.security.access import Access
        from services.settings import load_settings

        settings = load_settings(config)
        access = Access(settings)
        try:
            last_phase, schedule = parse_phases(phase)
            sim_settings = SimSettings(
                devices_n, rate, last_phase, duration, count, schedule=schedule
            )
        except EdgeError as exc:
            raise typer.BadParameter(str(exc)) from exc
        registry = access.registry
        prefix = registry.simulated.prefix if registry.simulated else "sim"
        accounts = [d for d in registry.devices if d.id.startswith(f"{prefix}-")][:devices_n]
        if len(accounts) < devices_n:
            raise typer.BadParameter(
                f"the registry has {len(accounts)} simulated devices; run "
                f"`fleet devices provision --count {devices_n}` first"
            )
        blob, version = default_blob()
        trusted = _trusted(settings, key)  # before any account secret is read
        fleet = Fleet(sim_devices(access, accounts), trusted, blob, version)
        texts = {p: synthetic_texts(p, seed=0) for p in sim_settings.phases}

        def table(c: SimCounts) -> Table:
            now_phase = sim_settings.phase_at(c.elapsed_s)
            t = Table(title=f"fleet simulator: {devices_n} devices, phase {now_phase}")
            for col in ("connected", "sent", "published", "buffered", "dropped", "msg/s",
                        "models", "elapsed s"):  # fmt: skip
                t.add_column(col, justify="right")
            t.add_row(
                f"{c.connected}/{devices_n}", str(c.sent), str(c.published), str(c.buffered),
                str(c.dropped), f"{c.sent / max(c.elapsed_s, 1e-9):.1f}", c.model_versions,
                f"{c.elapsed_s:.1f}",
            )  # fmt: skip
            return t

        fleet.start()
        try:
            with Live(table(fleet.counts(0, 0.0)), refresh_per_second=4) as live:
                fleet.run(sim_settings, texts, lambda c: live.update(table(c)))
        finally:
            fleet.close()

    @device.command("run")
    def run(
        device_id: Annotated[str, typer.Argument(help="registry device id")],
        phase: Annotated[int, Opt(help="synthetic drift phase")] = 0,
        rate: Annotated[float, Opt(help="messages per second")] = 1.0,
        duration: Annotated[float | None, Opt(help="seconds to run")] = None,
        count: Annotated[int | None, Opt(help="messages to send")] = None,
        key: KEY = None,
        config: CONFIG = None,
    ) -> None:
        """Run one device agent (C engine, OTA client) on synthetic messages."""
        from edge_agent.simulator import Fleet, SimSettings, synthetic_texts
        from services.security.access import Access
        from services.settings import load_settings

        settings = load_settings(config)
        try:
            run_settings = SimSettings(1, rate, phase, duration, count)
        except EdgeError as exc:
            raise typer.BadParameter(str(exc)) from exc
        access = Access(settings)
        account = access.registry.device(device_id)
        blob, version = default_blob()
        trusted = _trusted(settings, key)  # before any account secret is read
        fleet = Fleet(sim_devices(access, [account]), trusted, blob, version)
        fleet.start()
        try:
            final = fleet.run(
                run_settings, synthetic_texts(phase, 0),
                lambda c: None,
            )  # fmt: skip
            typer.echo(f"{device_id}: sent {final.sent}, published {final.published}, "
                       f"model v{final.model_versions}")  # fmt: skip
        finally:
            fleet.close()

    app.add_typer(devices, name="devices")
    app.add_typer(device, name="device")
