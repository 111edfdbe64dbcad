"""The one exception root of the ``services`` package."""


class ServiceError(Exception):
    """Root of every error raised by ``services``; third-party errors are translated to it."""


class ValidationError(ServiceError):
    """A payload does not match its schema; ``reason`` says why (it goes to the DLQ)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StackError(ServiceError):
    """A local component (Kafka, Mosquitto, Prometheus) cannot be started, stopped or reached."""
