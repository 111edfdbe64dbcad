"""The one exception root of the ``edge_agent`` package."""


class EdgeError(Exception):
    """Root of every error raised by ``edge_agent``."""


class OtaRefused(EdgeError):
    """An OTA release was refused (signature, version, target, size or chunk CRC)."""


class EngineError(EdgeError):
    """The C engine or slot manager returned an error status; ``status`` names it."""

    def __init__(self, message: str, status: str = "") -> None:
        super().__init__(message)
        self.status = status


class TransportError(EdgeError):
    """The MQTT transport cannot connect or publish."""
