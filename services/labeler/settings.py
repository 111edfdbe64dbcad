"""Settings of the labeler: frozen, read from ``FLEET_LABELER_*`` in ``main()``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import TOPIC_NAMES, EnvFirstSettings


class LabelerSettings(EnvFirstSettings):
    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix="FLEET_LABELER_")

    group_id: str = "fleet-labeler"  # consumer group; start more processes to scale out
    bootstrap: str = "127.0.0.1:19092"  # Kafka; the CLI fills it from FleetSettings
    requests_topic: str = TOPIC_NAMES["label_requests"]  # input, keyed by message id
    labeled_topic: str = TOPIC_NAMES["labeled"]  # output, keyed by message id
    batch_size: int = Field(default=32, ge=1, le=1024)  # texts per teacher call
    poll_timeout_ms: int = Field(default=500, ge=10)
    retry_backoff_s: float = Field(default=2.0, ge=0)  # after a failed batch, before retrying it
    backlog_every_s: float = Field(default=2.0, gt=0)  # how often the backlog gauge is refreshed
    # "keyword" (the in-memory double), "llm:<base_url>#<model>" (a chat-completions endpoint;
    # API key from FLEET_LLM_API_KEY) or a fine-tuned teacher checkpoint dir
    teacher: str = "keyword"
    # label set the LLM teacher must answer from (required with llm:; the student's labels);
    # the keyword double uses it too when set, else the example labels
    labels: tuple[str, ...] = ()
    llm_smoothing: float = Field(default=0.0, ge=0, lt=1)  # LLM answers: mass spread evenly
    llm_timeout_s: float = Field(default=30.0, gt=0)  # per chat-completions request
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=19103, ge=0, le=65535)  # /metrics; 0 disables the server
