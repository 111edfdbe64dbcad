"""The one place that says where and as whom a process connects.

``Access(fleet)`` turns the fleet settings, the registry and the stack's secrets file into a
connection description per account: :meth:`Access.mqtt` for a device or an MQTT service
account, :meth:`Access.kafka` for a Kafka principal (:meth:`Access.kafka_for` a service's own,
unless ``security.kafka_account`` names another). Services build theirs in ``main()`` and pass
them down; tests, the demo and the benchmarks use the same calls. Nothing else reads the
secrets file.
"""

from __future__ import annotations

from functools import cached_property

from contract.mqtt import MqttAccess
from models.errors import ConfigError
from services.security.kafka import KafkaAccess
from services.security.kafka_acls import KAFKA_ACCOUNTS, SUPER_USERS
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

    def kafka(self, account: str) -> KafkaAccess:
        """A Kafka principal of :mod:`services.security.kafka_acls`: SCRAM-SHA-512 for the
        services, PLAIN for the super users, over TLS with the stack's CA (or the cluster's
        own, ``security.kafka_ca_file``); with the development setting ``security.tls =
        false`` and no ``kafka_ca_file`` a plain listener without SASL."""
        if account not in KAFKA_ACCOUNTS:
            raise ConfigError(f"unknown Kafka account {account!r}; known: {list(KAFKA_ACCOUNTS)}")
        cafile = self.fleet.kafka_ca_file  # the stack's CA, or a cluster's own
        return KafkaAccess(
            bootstrap=self.fleet.kafka_bootstrap,
            username=account,
            password=self.secrets.password("kafka", account) if cafile is not None else None,
            mechanism="PLAIN" if account in SUPER_USERS else "SCRAM-SHA-512",
            cafile=cafile,
        )

    def kafka_for(self, service: str) -> KafkaAccess:
        """The account ``service`` runs as: its own, or ``security.kafka_account``."""
        return self.kafka(self.fleet.security.kafka_account or service)
