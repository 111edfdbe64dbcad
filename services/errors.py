"""The one exception root of the ``services`` package."""


class ServiceError(Exception):
    """Root of every error raised by ``services``; third-party errors are translated to it."""


class StackError(ServiceError):
    """A local component (Kafka, Mosquitto, Prometheus) cannot be started, stopped or reached."""
