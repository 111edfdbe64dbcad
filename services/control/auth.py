"""The ops bearer token: one shared secret in a file (mode 0600) created on first use, like
the release signing key; the API refuses commands without it."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from services.errors import ServiceError


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
        raise TokenError(f"cannot create the ops token file {path}: {exc}") from exc


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"cannot read the ops token file {path}: {exc}") from exc
    if not token:
        raise TokenError(f"the ops token file {path} is empty")
    return token


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
