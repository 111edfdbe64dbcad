"""Settings of the stream processor: frozen, read from ``FLEET_PROCESSOR_*`` in ``main()``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from contract.topics import TOPIC_NAMES
from services.security.kafka import KafkaAccess
from services.settings import EnvFirstSettings


class ProcessorSettings(EnvFirstSettings):
    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix="FLEET_PROCESSOR_")

    app_id: str = "fleet-processor"  # faust app id: consumer group and internal topic prefix
    kafka: KafkaAccess | None = None  # its Kafka principal; main() fills it (security.access)
    predictions_topic: str = TOPIC_NAMES["predictions"]  # input, keyed by device
    releases_topic: str = TOPIC_NAMES["releases"]  # compacted release manifests
    label_requests_topic: str = TOPIC_NAMES["label_requests"]  # output, keyed by message id
    partitions: int = Field(default=3, ge=1)  # of the by-model-version topic and the tables
    window_s: float = Field(default=60.0, gt=0)  # tumbling window size
    grace_s: float = Field(default=5.0, ge=0)  # a window closes this long after its end
    tick_s: float = Field(default=1.0, gt=0)  # how often due windows are looked for
    dedup_ttl_s: float = Field(default=900.0, gt=0)  # message ids are remembered this long
    cleanup_every_s: float = Field(
        default=30.0, gt=0
    )  # expiry sweep of the dedup and closed tables
    low_confidence: float = Field(default=0.6, gt=0, le=1)  # below this a prediction is a candidate
    # how a window's budget is spent: the most uncertain low-confidence predictions
    # (least_confidence, margin, entropy) or a uniform sample of all predictions (random) ...
    # margin: the best of the four at the same budget on the synthetic drifts of
    # `python -m benchmarks.continual` (README, Learning under drift); on its real-data
    # scenario it is within a point of least_confidence on average
    strategy: Literal["least_confidence", "margin", "entropy", "random"] = "margin"
    random_share: float = Field(default=0.0, ge=0, le=1)  # ... plus this share of the budget
    # on a uniform control sample of all predictions (ignored with strategy random)
    budget_per_window: int = Field(default=50, ge=0)  # label requests per window and model version
    per_device_cap: int = Field(default=5, ge=1)  # label requests per device and window
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=19102, ge=0, le=65535)  # /metrics; 0 disables the server
    data_dir: Path = Path("var/processor")  # faust's datadir
