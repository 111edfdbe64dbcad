"""How one MQTT account reaches Mosquitto: address, credentials, the CA to verify it by.

Every paho client in the project (services, edge agent, simulator, demo, tests, benchmarks)
is made or configured here, so TLS and credentials are set the same way everywhere.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pydantic import BaseModel, ConfigDict, Field, SecretStr


class MqttAccess(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(ge=1, le=65535)
    username: str
    password: SecretStr  # shown as ********** in reprs and logs
    cafile: Path | None = None  # the stack's CA: TLS, broker certificate verified; None: plain

    @property
    def tls(self) -> bool:
        return self.cafile is not None

    def ssl_context(self) -> ssl.SSLContext:
        """TLS 1.2+, the broker's certificate checked against the CA and its host name."""
        context = ssl.create_default_context(cafile=str(self.cafile))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def configure(self, client: mqtt.Client) -> mqtt.Client:
        """Set this account's credentials (and TLS) on an existing paho client."""
        client.username_pw_set(self.username, self.password.get_secret_value())
        if self.cafile is not None:
            client.tls_set_context(self.ssl_context())
        return client

    def client(
        self,
        client_id: str = "",
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
        **kwargs: Any,
    ) -> mqtt.Client:
        """A new paho client (callback API 2) for this account, not yet connected.

        On the devices' listener the broker replaces ``client_id`` with the username.
        """
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            **kwargs,
        )
        return self.configure(client)

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{self.username}@{self.host}:{self.port}"
