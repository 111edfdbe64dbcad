"""The one exception root of the ``edge_agent`` package."""


class EdgeError(Exception):
    """Root of every error raised by ``edge_agent``."""


class OtaRefused(EdgeError):
    """An OTA release was refused (signature, version, target, size or chunk CRC)."""
