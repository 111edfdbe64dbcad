"""The one place that says where and as whom a process connects.

``Access(fleet)`` turns the fleet settings, the registry and the stack's secrets file into a
connection description per account: :meth:`Access.mqtt` for a device or an MQTT service
account. Services build theirs in ``main()`` and pass them down; tests, the demo and the
benchmarks use the same calls. Nothing else reads the secrets file.
"""

from __future__ import annotations

from functools import cached_property

from models.errors import ConfigError
from services.security.mqtt import MqttAccess
from services.security.secrets import AccountSecrets, load_secrets
from services.settings import FleetSettings
from services.stack.registry import Registry, load_registry


class Access:
    def __init__(
        self,
        fleet: FleetSettings,
        registry: Registry | None = None,
        secrets: AccountSecrets | None = None,
    ) -> None:
        self.fleet = fleet
        if registry is not None:
            self.__dict__["registry"] = registry
        if secrets is not None:
            self.__dict__["secrets"] = secrets

    @cached_property
    def registry(self) -> Registry:
        return load_registry(self.fleet.stack.registry)

    @cached_property
    def secrets(self) -> AccountSecrets:
        return load_secrets(self.fleet.secrets_file)

    def mqtt(self, account: str) -> MqttAccess:
        """A device (its id) or a service account of the registry. Devices connect to the
        devices' listener, where the broker uses the username as client id; services to
        their own listener, which devices cannot log in to."""
        stack = self.fleet.stack
        if account in self.registry.services:
            port = stack.mosquitto.service_port
        elif any(device.id == account for device in self.registry.devices):
            port = stack.mosquitto.port
        else:
            raise ConfigError(
                f"unknown MQTT account {account!r}: neither a device nor a service account "
                f"of {stack.registry} (services: {sorted(self.registry.services)})"
            )
        return MqttAccess(
            host=stack.mosquitto.host or stack.host,
            port=port,
            username=account,
            password=self.secrets.password("mqtt", account),
            cafile=self.fleet.ca_file,
        )
