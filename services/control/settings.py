"""Settings of the control API: frozen, read from ``FLEET_CONTROL_*`` in ``main()``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from contract.topics import TOPIC_NAMES
from services.security.kafka import KafkaAccess
from services.settings import EnvFirstSettings


class ControlSettings(EnvFirstSettings):
    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix="FLEET_CONTROL_")

    host: str = "127.0.0.1"  # the API, the page and /metrics listen here
    port: int = Field(default=19106, ge=0, le=65535)  # the CLI fills it from metrics_ports.control
    kafka: KafkaAccess | None = None  # its Kafka principal; main() fills it (security.access)
    commands_topic: str = TOPIC_NAMES["ops_commands"]  # where accepted commands go
    releases_topic: str = TOPIC_NAMES["releases"]  # published manifests (compacted)
    releases_dir: Path = Path("var/releases")  # the ReleaseStore; the CLI: <data_dir>/releases
    token_file: Path = Path("var/keys/ops.token")  # ops token (commands); created on first start
    read_token_file: Path = Path("var/keys/read.token")  # read-only token (page, reads, status)
    alerts_token_file: Path = Path("var/keys/alerts.token")  # Alertmanager's webhook token
    release_public_key: Path = Path("var/keys/release.pub")  # shows if signatures verify
    recent_limit: int = Field(default=50, ge=1, le=1000)  # commands shown / returned at most
    ack_timeout_s: float = Field(default=15.0, gt=0)  # a command not acked by then: 503
    read_timeout_s: float = Field(default=5.0, gt=0)  # reading a topic back for a page
    rollouts_topic: str = TOPIC_NAMES["rollouts"]  # the rollout manager's state (compacted)
    prometheus_url: str = "http://127.0.0.1:19090"  # charts and status; the CLI fills it
    alerts_kept: int = Field(default=200, ge=1, le=10_000)  # webhook alerts kept in memory
    session_ttl_s: float = Field(default=8 * 3600, gt=0)  # a page sign-in lasts this long
