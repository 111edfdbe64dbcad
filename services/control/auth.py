"""The control API's bearer tokens: one random secret per role in a file (mode 0600) created
on first use, like the release signing key.

Roles: ``ops`` may send commands and read everything; ``read`` may only read (the page,
``/api/v1/*`` reads, ``fleet status``); ``alerts`` may only post Alertmanager's webhook.
A token is compared in constant time; a value that is not text (bytes that are not UTF-8 in a
header, a non-ASCII character) is simply a wrong token.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from services.errors import ServiceError

ROLES = ("ops", "read", "alerts")
TOKEN_FILES = {"ops": "ops.token", "read": "read.token", "alerts": "alerts.token"}


class TokenError(ServiceError):
    """The token file cannot be read or written, or holds no token."""


def load_or_create_token(path: Path) -> str:
    """The token in ``path``; a new random one is written (0600) when the file is missing."""
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            token = secrets.token_urlsafe(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(token + "\n")
            return token
        return read_token(path)
    except FileExistsError:  # another process created it meanwhile
        return read_token(path)
    except OSError as exc:
        raise TokenError(f"cannot create the token file {path}: {exc}") from exc


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"cannot read the token file {path}: {exc}") from exc
    if not token:
        raise TokenError(f"the token file {path} is empty")
    return token


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip(" \t")  # only HTTP's whitespace: a token is exactly its characters
    if scheme.lower() != "bearer" or not value:
        return None
    return value


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison; anything that is not an ASCII string never matches."""
    if given is None or not given.isascii():
        return False
    return hmac.compare_digest(given.encode("ascii"), expected.encode("ascii"))


@dataclass(frozen=True)
class Tokens:
    """The token of each role."""

    ops: str
    read: str
    alerts: str

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> Tokens:
        return cls(**{role: load_or_create_token(keys_dir / TOKEN_FILES[role]) for role in ROLES})

    def role(self, given: str | None) -> str | None:
        """The role ``given`` grants (every token is compared, so timing tells nothing)."""
        matches = [role for role in ROLES if token_matches(given, getattr(self, role))]
        return matches[0] if matches else None

    def may_read(self, given: str | None) -> bool:
        return self.role(given) in ("ops", "read")
