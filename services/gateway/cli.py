"""``fleet gateway run``: one gateway process (start several to split the load)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def register(app: typer.Typer) -> None:
    gateway = typer.Typer(help="MQTT -> Kafka gateway.", no_args_is_help=True)

    @gateway.command("run")
    def run_cmd(
        config: Annotated[Path | None, Opt(help="fleet.toml (default: $FLEET_CONFIG)")] = None,
        client_id: Annotated[
            str, Opt(envvar="FLEET_GATEWAY_CLIENT_ID", help="stable MQTT client id per process")
        ] = "gateway-1",
        share_group: Annotated[str | None, Opt(help="$share group (default gateway)")] = None,
        max_in_flight: Annotated[int | None, Opt(help="MQTT Receive Maximum")] = None,
        metrics_port: Annotated[int | None, Opt(help="/metrics port (0 = off)")] = None,
        predictions_topic: Annotated[str | None, Opt()] = None,
        status_topic: Annotated[str | None, Opt()] = None,
        dlq_topic: Annotated[str | None, Opt()] = None,
        linger_ms: Annotated[float | None, Opt(help="Kafka producer batching delay")] = None,
        mqtt_host: Annotated[str | None, Opt(envvar="FLEET_GATEWAY_MQTT_HOST")] = None,
        mqtt_port: Annotated[int | None, Opt(envvar="FLEET_GATEWAY_MQTT_PORT")] = None,
        kafka_bootstrap: Annotated[str | None, Opt(envvar="FLEET_GATEWAY_KAFKA_BOOTSTRAP")] = None,
        metrics_host: Annotated[
            str | None, Opt(envvar="FLEET_GATEWAY_METRICS_HOST", help="/metrics bind address")
        ] = None,
        device_rate: Annotated[
            float | None, Opt(help="messages/s per device, over it -> DLQ (0 = no limit)")
        ] = None,
        device_burst: Annotated[int | None, Opt(help="messages per device at once")] = None,
    ) -> None:
        """Bridge fleet/+/pred and fleet/+/status to Kafka until SIGTERM."""
        from services.gateway.service import main
        from services.gateway.settings import GatewaySettings
        from services.security.access import Access
        from services.settings import load_settings

        settings = GatewaySettings.from_fleet(
            Access(load_settings(config)),
            client_id=client_id,
            share_group=share_group,
            max_in_flight=max_in_flight,
            metrics_port=metrics_port,
            predictions_topic=predictions_topic,
            status_topic=status_topic,
            dlq_topic=dlq_topic,
            linger_ms=linger_ms,
            mqtt_host=mqtt_host,
            mqtt_port=mqtt_port,
            kafka_bootstrap=kafka_bootstrap,
            metrics_host=metrics_host,
            device_rate_per_s=device_rate,
            device_burst=device_burst,
        )
        raise typer.Exit(main(settings))

    app.add_typer(gateway, name="gateway")
