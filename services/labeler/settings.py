"""Settings of the labeler: frozen, read from ``FLEET_LABELER_*`` in ``main()``."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from contract.topics import TOPIC_NAMES
from services.security.kafka import KafkaAccess
from services.settings import EnvFirstSettings


class LabelerSettings(EnvFirstSettings):
    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix="FLEET_LABELER_")

    group_id: str = "fleet-labeler"  # consumer group; start more processes to scale out
    kafka: KafkaAccess | None = None  # its Kafka principal; main() fills it (security.access)
    requests_topic: str = TOPIC_NAMES["label_requests"]  # input, keyed by message id
    labeled_topic: str = TOPIC_NAMES["labeled"]  # output, keyed by message id
    dlq_topic: str = TOPIC_NAMES["label_dlq"]  # requests no label came for, with the reason
    batch_size: int = Field(default=32, ge=1, le=1024)  # texts per teacher call
    poll_timeout_ms: int = Field(default=500, ge=10)
    retry_backoff_s: float = Field(default=2.0, ge=0)  # after a failed batch, before retrying it
    backlog_every_s: float = Field(default=2.0, gt=0)  # how often the backlog gauge is refreshed
    max_attempts: int = Field(default=3, ge=1)  # tries per request, then it is dead-lettered
    # no new text is started after this long in one batch; the rest waits for the next batch
    batch_deadline_s: float = Field(default=60.0, gt=0)
    produce_timeout_s: float = Field(default=30.0, gt=0)  # Kafka acks of one batch's records
    # Kafka's max.poll.interval.ms: a batch slower than this loses the group's partitions
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    # "keyword" (the in-memory double), "llm:<base_url>#<model>" (a chat-completions endpoint;
    # API key from FLEET_LLM_API_KEY) or a fine-tuned teacher checkpoint dir
    teacher: str = "keyword"
    # label set the LLM teacher must answer from (required with llm:; the student's labels);
    # the keyword double uses it too when set, else the example labels
    labels: tuple[str, ...] = ()
    llm_smoothing: float = Field(default=0.0, ge=0, lt=1)  # LLM answers: mass spread evenly
    llm_timeout_s: float = Field(default=30.0, gt=0)  # per chat-completions request (one try:
    # the service's max_attempts are the retries)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=19103, ge=0, le=65535)  # /metrics; 0 disables the server

    @property
    def batch_worst_case_s(self) -> float:
        """The longest one batch can keep the consumer from polling: texts start until the
        deadline, the last one may take a whole request, then the produce, then a backoff."""
        return (
            self.batch_deadline_s
            + self.llm_timeout_s
            + self.produce_timeout_s
            + self.retry_backoff_s
        )

    @model_validator(mode="after")
    def _batch_fits_the_poll_interval(self) -> LabelerSettings:
        half = self.max_poll_interval_ms / 2000
        if self.batch_worst_case_s > half:
            raise ValueError(
                f"a batch may take {self.batch_worst_case_s:.0f} s (batch_deadline_s + "
                f"llm_timeout_s + produce_timeout_s + retry_backoff_s), more than half of "
                f"max_poll_interval_ms ({half:.0f} s)"
            )
        return self
