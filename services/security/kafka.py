"""How one Kafka account reaches the broker: bootstrap address, SASL credentials, the CA.

Every Kafka client in the project (kafka-python producers, consumers and admin clients, the
processor's faust app; librdkafka's settings for ``services.kafka_clients``) is made here,
so SASL and TLS are set the same way everywhere.
Services authenticate with SCRAM-SHA-512 (credentials stored in the cluster's metadata by
``fleet stack up``); the broker itself and the stack's ``admin`` use PLAIN, whose accounts
the broker's own configuration lists (they must work before any SCRAM credential exists).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from models.errors import ConfigError

if TYPE_CHECKING:
    from faust.auth import SASLCredentials
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient

Mechanism = Literal["SCRAM-SHA-512", "PLAIN"]


class KafkaAccess(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap: str  # host:port of the clients' listener
    username: str
    # shown as ********** in reprs and logs; None: no SASL (the development setting's plain
    # listener, which has no ACLs either)
    password: SecretStr | None
    mechanism: Mechanism = "SCRAM-SHA-512"
    cafile: Path | None = None  # the stack's CA: TLS, broker certificate verified; None: plain

    @property
    def security_protocol(self) -> str:
        if self.password is None:
            return "PLAINTEXT"
        return "SASL_SSL" if self.cafile is not None else "SASL_PLAINTEXT"

    def _secret(self) -> str:
        return self.password.get_secret_value() if self.password is not None else ""

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS 1.2+, the broker's certificate checked against the CA and its host name."""
        if self.cafile is None or self.password is None:
            return None
        context = ssl.create_default_context(cafile=str(self.cafile))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def kafka_python(self) -> dict[str, Any]:
        """Connection keyword arguments of kafka-python's clients."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.password is not None:
            options |= {
                "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self._secret(),
                "ssl_context": self.ssl_context(),
            }
        return options

    def producer(self, **kwargs: Any) -> KafkaProducer:
        from kafka import KafkaProducer

        return KafkaProducer(**self.kafka_python(), **kwargs)

    def consumer(self, *topics: str, **kwargs: Any) -> KafkaConsumer:
        from kafka import KafkaConsumer

        return KafkaConsumer(*topics, **self.kafka_python(), **kwargs)

    def admin(self, **kwargs: Any) -> KafkaAdminClient:
        from kafka.admin import KafkaAdminClient

        return KafkaAdminClient(**self.kafka_python(), **kwargs)

    def librdkafka(self) -> dict[str, Any]:
        """Connection settings of librdkafka (``confluent-kafka``) clients."""
        options: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.password is not None:
            options |= {
                "sasl.mechanism": self.mechanism,
                "sasl.username": self.username,
                "sasl.password": self._secret(),
            }
        if self.cafile is not None and self.password is not None:
            options["ssl.ca.location"] = str(self.cafile)
            options["ssl.endpoint.identification.algorithm"] = "https"
        return options

    def aiokafka(self) -> dict[str, Any]:
        """Connection keyword arguments of aiokafka's clients (faust's driver)."""
        return self.kafka_python()

    @property
    def faust_broker(self) -> str:
        return f"kafka://{self.bootstrap}"

    def faust_credentials(self) -> SASLCredentials | None:
        """``faust.App(broker_credentials=...)``: aiokafka with the same SASL and TLS."""
        from faust.auth import SASLCredentials

        if self.password is None:
            return None
        return SASLCredentials(
            username=self.username,
            password=self._secret(),
            ssl_context=self.ssl_context(),
            mechanism=self.mechanism,
        )

    def __str__(self) -> str:
        return f"{self.security_protocol.lower()}://{self.username}@{self.bootstrap}"


def required(access: KafkaAccess | None, who: str) -> KafkaAccess:
    """A service's Kafka account, which its settings hold once its ``main()`` filled it."""
    if access is None:
        raise ConfigError(
            f"{who} needs its Kafka account (settings.kafka, from services.security.access)"
        )
    return access
