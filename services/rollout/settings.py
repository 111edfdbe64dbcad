"""Settings of the rollout manager: frozen, read from ``FLEET_ROLLOUT_*`` in ``main()`` (one
underscore, like the labeler, processor and distiller: ``FLEET_<SECTION>__`` is the nesting of
``fleet.toml``'s own sections).

``main()`` fills the MQTT account (the registry's ``rollout`` service, its secret from the
stack's secrets file), the stack's addresses,
the release store and key paths and the stage order (the registry's groups, ``canary`` first)
from :class:`services.settings.FleetSettings`; the environment overrides any of them, e.g.
``FLEET_ROLLOUT_STAGES='[{"group": "canary", "bake_s": 60}, {"group": "fleet"}]'``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from contract.mqtt import MqttAccess
from contract.schemas.ops import Group
from contract.schemas.rollout import StageCriteria
from contract.topics import TOPIC_NAMES
from models.errors import ConfigError
from services.security.kafka import KafkaAccess
from services.settings import EnvFirstSettings

STATE_TOPIC = TOPIC_NAMES["rollouts"]  # compacted, keyed by release version (schemas/rollout)


class StageSpec(StageCriteria):
    """One stage of the rollout order: a group and the criteria it is judged by."""

    group: Group


DEFAULT_STAGES = (
    StageSpec(group="canary", min_confirmed=1.0, max_failed=0.0, bake_s=30.0, timeout_s=900.0),
    StageSpec(group="fleet", min_confirmed=0.9, max_failed=0.05, bake_s=0.0, timeout_s=3600.0),
)


class RolloutSettings(EnvFirstSettings):
    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", env_prefix="FLEET_ROLLOUT_", env_nested_delimiter="__"
    )

    # --- Kafka
    kafka: KafkaAccess | None = None  # its Kafka principal; main() fills it (security.access)
    group_id: str = "fleet-rollout"  # consumer group of the inputs; run one manager
    releases_topic: str = TOPIC_NAMES["releases"]  # input: signed manifests (compacted)
    status_topic: str = TOPIC_NAMES["device_status"]  # input: device OTA reports
    ops_topic: str = TOPIC_NAMES["ops_commands"]  # input: Rollout / Halt / Rollback
    state_topic: str = STATE_TOPIC  # output + restart input: RolloutRecord per version
    poll_timeout_ms: int = Field(default=200, ge=10)
    # --- MQTT: the registry's "rollout" service account (``Access.mqtt``); required to run
    mqtt: MqttAccess | None = None
    publish_timeout_s: float = Field(default=10.0, gt=0)  # wait for PUBACK of a manifest
    # --- releases (the CLI resolves these under the stack's data dir)
    release_root: Path = Path("var/releases")  # ReleaseStore root, written by the distiller
    keys_dir: Path = Path("var/keys")  # release.pub verifies; release.key signs rollbacks
    # --- policy
    stages: tuple[StageSpec, ...] = DEFAULT_STAGES  # shipping order, canary first
    auto_start: bool = True  # a new release starts its first stage without an ops Rollout
    auto_rollback: bool = True  # a failure halt rolls the touched groups forward to old weights
    active_window_s: float = Field(default=600.0, gt=0)  # a device reporting this recently
    # counts in a stage's population when the stage starts (plus every device that reports)
    tick_s: float = Field(default=1.0, gt=0)  # how often stages are evaluated
    # a retained manifest is bound to its group for this long (renewed half way): a captured
    # one cannot be replayed later (devices refuse it expired)
    manifest_ttl_s: float = Field(default=3600.0, gt=0)
    max_command_age_s: float = Field(default=900.0, gt=0)  # older ops commands are ignored
    # (a new consumer group starts at the topic's beginning: old Halts must not replay)
    # --- metrics
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=19105, ge=0, le=65535)  # /metrics; 0 disables the server

    @model_validator(mode="after")
    def _distinct_groups(self) -> RolloutSettings:
        groups = [s.group for s in self.stages]
        if not groups or len(set(groups)) != len(groups):
            raise ValueError(f"stages must name distinct groups, got {groups}")
        return self

    def stage(self, group: str) -> StageSpec:
        for spec in self.stages:
            if spec.group == group:
                return spec
        raise ConfigError(
            f"unknown group {group!r}; valid groups: {[s.group for s in self.stages]}"
        )
