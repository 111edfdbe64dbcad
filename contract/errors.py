"""The one exception root of the ``contract`` package."""


class ContractError(Exception):
    """Root of every error raised by ``contract``."""


class ValidationError(ContractError):
    """A payload does not match its schema; ``reason`` says why (it goes to the DLQ)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureError(ContractError):
    """A release manifest is unsigned, or its signature does not verify against the key."""
