"""Settings of the distiller: frozen, read from ``FLEET_DISTILLER_*`` in ``main()``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from contract.topics import TOPIC_NAMES
from services.releases.profile import TARGET
from services.security.kafka import KafkaAccess
from services.settings import EnvFirstSettings

# Instant PromQL query for the drift trigger; {version} is the current release, {hold_s} the
# hold period. The series is the processor's PSI (max over features) of the last closed window,
# recorded by deploy/prometheus/rules/fleet.yml. min_over_time over the hold period, kept only
# where the series already existed a hold period ago, means "above the threshold for the whole
# period", which is what the FleetDriftHigh alert's `for: 3m` says.
_PSI = 'fleet:drift_psi:max{{model_version="{version}"}}'
DRIFT_QUERY = f"min_over_time({_PSI}[{{hold_s}}s]) and {_PSI} offset {{hold_s}}s"


class DistillerSettings(EnvFirstSettings):
    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", env_prefix="FLEET_DISTILLER_", env_nested_delimiter="__"
    )

    # --- Kafka
    group_id: str = "fleet-distiller"  # consumer group of the inputs; run one distiller
    kafka: KafkaAccess | None = None  # its Kafka principal; main() fills it (security.access)
    labeled_topic: str = TOPIC_NAMES["labeled"]  # input: teacher-labeled samples
    ops_topic: str = TOPIC_NAMES["ops_commands"]  # input: Redistill commands
    releases_topic: str = TOPIC_NAMES["releases"]  # output: signed manifests (compacted)
    predictions_topic: str = TOPIC_NAMES["predictions"]  # the newest: reference-profile texts
    profile_sample: int = Field(default=2000, ge=0)  # newest predictions profiled; 0 = held out
    poll_timeout_ms: int = Field(default=500, ge=10)
    # --- storage (the CLI resolves these under the stack's data dir)
    data_dir: Path = Path("var/distiller")  # samples.sqlite3 (samples, cursor, command ids)
    release_root: Path = Path("var/releases")  # ReleaseStore root, shared with the rollout
    keys_dir: Path = Path("var/keys")  # release.key signs; devices trust release.pub
    # --- replay set: labeled messages of the old distribution, against forgetting
    replay_path: Path | None = None  # jsonl {"text", "label"}, e.g. synth phase0/train.jsonl
    replay_valid_path: Path | None = None  # jsonl for the gate; None = a share of replay_path
    replay_valid_share: float = Field(default=0.1, gt=0, lt=1)  # used when no valid file
    replay_ratio: float = Field(default=1.0, ge=0)  # replay rows per new row in fine-tuning
    # (half from the memory, half from the replay set; a short source leaves its part)
    replay_valid_max: int = Field(default=1000, ge=1)  # replay gate rows at most
    # --- replay memory: teacher-labeled samples of earlier cycles (services.distiller.memory)
    memory_size: int = Field(default=2000, ge=0)  # samples kept after a cycle; 0 keeps none
    memory_policy: Literal["class_balanced", "reservoir", "recent"] = "class_balanced"
    # --- triggers
    interval_s: float = Field(default=3600.0, gt=0)  # schedule: a cycle at most this often ...
    min_new_samples: int = Field(default=200, ge=1)  # ... and only with this many new samples
    tick_s: float = Field(default=5.0, gt=0)  # how often the triggers are evaluated
    drift_source: Literal["prometheus", "off"] = "prometheus"  # Prometheus HTTP API or nothing
    prometheus_url: str = "http://127.0.0.1:19090"  # the CLI fills it from FleetSettings
    drift_query: str = DRIFT_QUERY  # PromQL; {version} and {hold_s} are filled in
    drift_threshold: float = Field(default=0.2, gt=0)  # PSI; services.processor.drift.PSI_ALERT
    drift_hold_s: int = Field(default=180, ge=1)  # above the threshold this long (3 windows)
    drift_poll_s: float = Field(default=30.0, gt=0)  # how often Prometheus is asked
    drift_cooldown_s: float = Field(default=1800.0, ge=0)  # after a drift cycle, before the next
    drift_min_new_samples: int = Field(default=50, ge=1)  # new samples a drift cycle needs
    # --- training
    max_samples: int = Field(default=5000, ge=10)  # newest new samples a cycle uses
    holdout_share: float = Field(default=0.2, gt=0, lt=1)  # of new samples, by message id hash
    max_steps: int = Field(default=300, ge=1)  # optimizer steps per cycle (Redistill may cap)
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=1e-3, gt=0)  # AdamW, constant: fine-tuning, not training
    weight_decay: float = Field(default=0.01, ge=0)
    alpha: float = Field(default=0.7, ge=0, le=1)  # soft KD weight (models.losses.LossConfig)
    temperature: float = Field(default=3.0, gt=0)  # KD softening temperature
    lwf_weight: float = Field(default=0.0, ge=0)  # Learning without Forgetting on the current
    # release's outputs (services.distiller.finetune); 0 = off
    seed: int = 0  # shuffling, replay sampling, new head rows
    torch_threads: int = Field(default=1, ge=1)  # the distiller shares the machine
    # --- gate (candidate vs current release; accuracy against teacher / replay labels)
    gate_min_gain: float = Field(default=0.0, ge=0)  # new-data accuracy must beat old by more
    gate_replay_tolerance: float = Field(default=0.02, ge=0)  # replay accuracy may drop this much,
    gate_replay_z: float = Field(default=1.645, ge=0)  # ... or this many standard errors
    gate_max_int8_drop: float = Field(default=0.05, ge=0)  # float -> int8 accuracy loss allowed
    gate_min_holdout: int = Field(default=10, ge=1)  # held-out new samples a gate needs
    gate_memory_tolerance: float = Field(default=0.02, ge=0)  # accuracy on held-out earlier
    # traffic (memory, teacher labels) may drop this much, or this many standard errors:
    gate_memory_z: float = Field(default=1.645, ge=0)
    # --- release
    target: str = TARGET  # devices refuse other targets
    min_firmware: str = "1.0.0"  # devices on older firmware refuse
    # --- metrics
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=19104, ge=0, le=65535)  # /metrics; 0 disables the server
