"""The one exception root of the ``models`` package."""


class ModelsError(Exception):
    """Root of every error raised by ``models``; third-party errors are translated to it."""


class DataError(ModelsError):
    """A data file or record is missing, malformed or inconsistent."""


class ConfigError(ModelsError):
    """A configuration or settings value is invalid; the message names the valid options. The
    one such error of the project: ``services`` raise it too (their settings and options)."""
