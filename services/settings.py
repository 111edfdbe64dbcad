"""Typed settings: one frozen object read from ``fleet.toml`` plus ``FLEET_*`` environment.

Read it once in ``main()`` (or a CLI command) with :func:`load_settings` and pass it
explicitly; nothing else in ``services`` reads files or the environment for configuration.

Precedence, highest first: ``FLEET_*`` environment variables (nested with ``__``, e.g.
``FLEET_STACK__KAFKA__PORT=29092``), the TOML file, the defaults below. Relative paths are
resolved against the directory the settings were loaded from (the TOML file's folder, or
the current directory when there is none).

Default ports are deliberately not the daemons' usual ones, so a system Kafka, Mosquitto or
Prometheus on the same machine does not clash with the project's own instances.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from contract.topics import TOPIC_NAMES
from models.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout (editable install)
CONFIG_ENV = "FLEET_CONFIG"  # names the TOML file when no path is passed
DEFAULT_CONFIG_NAME = "fleet.toml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    port: int = Field(default=19092, ge=1, le=65535)  # PLAINTEXT listener (clients)
    controller_port: int = Field(default=19093, ge=1, le=65535)  # KRaft CONTROLLER listener
    libs_dir: Path = REPO_ROOT / "deploy" / "kafka" / "libs"  # jars resolved by Maven
    heap_max_mb: int = Field(default=512, ge=128, le=1024)  # -Xmx; the brief caps it at 1 GB
    heap_min_mb: int = Field(default=256, ge=64, le=1024)  # -Xms
    java: str = "java"  # the JVM binary
    bootstrap: str | None = None  # where clients connect (default host:port, this broker)
    start_timeout_s: float = Field(default=120.0, gt=0)  # until a metadata request must succeed


class MosquittoSettings(_Section):
    host: str | None = None  # where clients connect (default: stack.host)
    port: int = Field(default=18830, ge=1, le=65535)  # devices' listener (client id = username)
    service_port: int = Field(default=18831, ge=1, le=65535)  # service accounts' listener
    binary: str = "mosquitto"  # Debian's /usr/sbin/mosquitto
    passwd_binary: str = "mosquitto_passwd"  # hashes the generated password file
    start_timeout_s: float = Field(default=20.0, gt=0)


class PrometheusSettings(_Section):
    port: int = Field(default=19090, ge=1, le=65535)  # web UI and HTTP API
    binary: str = "prometheus"  # Debian's /usr/bin/prometheus
    scrape_interval_s: int = Field(default=5, ge=1)  # global scrape interval of service jobs
    extra_scrape_interval_s: int = Field(default=1, ge=1)  # interval of file_sd ("extra") targets
    retention: str = "2d"  # --storage.tsdb.retention.time
    start_timeout_s: float = Field(default=30.0, gt=0)


class AlertmanagerSettings(_Section):
    port: int = Field(default=19094, ge=1, le=65535)  # web UI and API (v2)
    binary: str = "prometheus-alertmanager"  # Debian's /usr/bin/prometheus-alertmanager
    group_wait_s: int = Field(default=10, ge=0)  # first notification of a new group after
    group_interval_s: int = Field(default=60, ge=1)  # changes to a notified group after
    repeat_interval: str = "1h"  # a group still firing is sent again after
    retention: str = "120h"  # silences and notification log
    start_timeout_s: float = Field(default=30.0, gt=0)


class StackSettings(_Section):
    host: str = "127.0.0.1"  # every component binds here only
    data_dir: Path = Path("var")  # pid files, logs, Kafka log dirs, TSDB, generated configs
    registry: Path = REPO_ROOT / "deploy" / "fleet-registry.toml"  # devices + service accounts
    prometheus_config: Path = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
    prometheus_rules_dir: Path = REPO_ROOT / "deploy" / "prometheus" / "rules"
    kafka: KafkaSettings = KafkaSettings()
    mosquitto: MosquittoSettings = MosquittoSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()


class SecuritySettings(_Section):
    """Credentials and transport security of the local stack (``services/security``)."""

    # True: MQTT and Kafka listen with TLS only (certificates from the stack's own CA in
    # <data_dir>/pki that every client verifies), Kafka with SASL and ACLs. False is for
    # development only: plain TCP listeners; Mosquitto keeps its accounts and ACLs, Kafka
    # takes anyone (no SASL, no authorizer), as before there was a setting.
    tls: bool = True
    # Every service of this process connects to Kafka as this account instead of its own
    # (tests that run services on topics of their own, which the ACLs give no service). It
    # needs that account's secret, so it grants nothing its caller does not hold already.
    kafka_account: str | None = None

    # Every account's secret; default <data_dir>/secrets/accounts.json, which `fleet stack
    # up` creates. Elsewhere (a Kubernetes Secret) a file with only the process's accounts.
    secrets_file: Path | None = None
    # Kafka's CA, where the brokers are not the local stack's (Kubernetes: Strimzi's cluster
    # CA). Set, clients use SASL over TLS verified by it, also with ``tls = false`` (which
    # then concerns MQTT only); None: the stack's CA with ``tls``, else plain.
    kafka_ca_file: Path | None = None


class TopicSpec(_Section):
    partitions: int = Field(ge=1)  # scale-out unit of the consumer group
    compacted: bool = False  # cleanup.policy=compact (latest value per key)


class TopicSettings(_Section):
    """The Kafka topics (``docs/architecture.md``); names are the contract, partition counts
    are tunable."""

    predictions: TopicSpec = TopicSpec(partitions=6)  # fleet.predictions, keyed by device
    predictions_dlq: TopicSpec = TopicSpec(partitions=1)  # fleet.predictions.dlq
    device_status: TopicSpec = TopicSpec(partitions=3)  # fleet.device-status
    label_requests: TopicSpec = TopicSpec(partitions=3)  # distill.label-requests
    label_dlq: TopicSpec = TopicSpec(partitions=1)  # distill.label-requests.dlq
    labeled: TopicSpec = TopicSpec(partitions=3)  # distill.labeled
    releases: TopicSpec = TopicSpec(partitions=1, compacted=True)  # model.releases
    ops_commands: TopicSpec = TopicSpec(partitions=1)  # ops.commands
    rollouts: TopicSpec = TopicSpec(partitions=1, compacted=True)  # model.rollouts, by version

    def by_name(self) -> dict[str, TopicSpec]:
        """Kafka topic name -> spec."""
        return {TOPIC_NAMES[field]: getattr(self, field) for field in TOPIC_NAMES}


class MetricsPorts(_Section):
    """Fixed ``/metrics`` ports of the services; Prometheus scrapes exactly these."""

    gateway: int = Field(default=19101, ge=1, le=65535)
    processor: int = Field(default=19102, ge=1, le=65535)
    labeler: int = Field(default=19103, ge=1, le=65535)
    distiller: int = Field(default=19104, ge=1, le=65535)
    rollout: int = Field(default=19105, ge=1, le=65535)
    control: int = Field(default=19106, ge=1, le=65535)  # the ops API and page serve it too

    def by_service(self) -> dict[str, int]:
        return self.model_dump()


class EnvFirstSettings(BaseSettings):
    """Base of every settings object: values arrive as keyword arguments (the TOML file in
    :func:`load_settings`, or what a service's ``main()`` derives from :class:`FleetSettings`)
    and the environment overrides them; no ``.env`` or secrets files are read."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings


class FleetSettings(EnvFirstSettings):
    """Everything the local system needs to know; frozen once loaded."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix="FLEET_",
        env_nested_delimiter="__",
        nested_model_default_partial_update=True,
    )

    stack: StackSettings = StackSettings()
    topics: TopicSettings = TopicSettings()
    metrics_ports: MetricsPorts = MetricsPorts()
    security: SecuritySettings = SecuritySettings()

    @property
    def data_dir(self) -> Path:
        return self.stack.data_dir

    @property
    def secrets_file(self) -> Path:
        """Every account's secret (``services.security.secrets``); 0600, never in git."""
        return self.security.secrets_file or self.stack.data_dir / "secrets" / "accounts.json"

    @property
    def pki_dir(self) -> Path:
        """The stack's CA and the brokers' certificates (``services.security.pki``)."""
        return self.stack.data_dir / "pki"

    @property
    def ca_file(self) -> Path | None:
        """The CA every client verifies the brokers by; None without TLS."""
        return self.pki_dir / "ca.crt" if self.security.tls else None

    @property
    def kafka_ca_file(self) -> Path | None:
        """The CA Kafka clients verify the brokers by; None: plain Kafka, no SASL."""
        return self.security.kafka_ca_file or self.ca_file

    @property
    def kafka_bootstrap(self) -> str:
        return self.stack.kafka.bootstrap or f"{self.stack.host}:{self.stack.kafka.port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.stack.host}:{self.stack.prometheus.port}"


def _resolve_paths(settings: FleetSettings, base: Path) -> FleetSettings:
    """Make every relative path in ``stack`` absolute against ``base``."""

    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else (base / path).resolve()

    stack = settings.stack
    kafka = stack.kafka.model_copy(update={"libs_dir": absolute(stack.kafka.libs_dir)})
    stack = stack.model_copy(
        update={
            "data_dir": absolute(stack.data_dir),
            "registry": absolute(stack.registry),
            "prometheus_config": absolute(stack.prometheus_config),
            "prometheus_rules_dir": absolute(stack.prometheus_rules_dir),
            "kafka": kafka,
        }
    )
    security = settings.security
    for name in ("secrets_file", "kafka_ca_file"):
        path = getattr(security, name)
        if path is not None:
            security = security.model_copy(update={name: absolute(path)})
    return settings.model_copy(update={"stack": stack, "security": security})


def load_settings(path: Path | None = None, **overrides: Any) -> FleetSettings:
    """Read settings from ``path`` (or ``$FLEET_CONFIG``, or ``./fleet.toml`` when present).

    ``overrides`` are applied on top of the file (below the environment), e.g. from tests.
    Raises :class:`ConfigError` naming the offending field.
    """
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = Path(DEFAULT_CONFIG_NAME)
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"settings file {path} does not exist") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
        base = Path(path).resolve().parent
    data = _deep_merge(data, overrides)
    try:
        settings = FleetSettings(**data)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"invalid settings: {_summarise(exc)}") from exc
    return _resolve_paths(settings, base)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _summarise(exc: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
    )
