"""One random secret per account of the local stack (MQTT devices and services, Kafka).

``fleet stack up`` creates them on first use in ``<data_dir>/secrets/accounts.json`` (see
:mod:`services.security.files`: folder 0700, file 0600, never in git), adds secrets for
accounts that appear later (``fleet devices provision``) and never changes an existing one.
Passwords are :class:`pydantic.SecretStr` from the moment they are read, so a settings
object, a log line or a traceback shows ``**********``; only the client libraries get the
value.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from models.errors import ConfigError
from services.security.files import private_dir, read_private, write_private

Kind = Literal["mqtt", "kafka"]
KINDS: tuple[Kind, ...] = ("mqtt", "kafka")
SECRET_BYTES = 24  # 192 bits, 32 URL-safe characters


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


@dataclass(frozen=True)
class AccountSecrets:
    """The secrets of one stack, by kind and account name."""

    path: Path
    accounts: Mapping[Kind, Mapping[str, SecretStr]]

    def password(self, kind: Kind, account: str) -> SecretStr:
        try:
            return self.accounts[kind][account]
        except KeyError:
            raise ConfigError(
                f"no {kind} secret for account {account!r} in {self.path}; `fleet stack up` "
                "creates one for every account of the registry and of the Kafka ACLs"
            ) from None

    def names(self, kind: Kind) -> list[str]:
        return sorted(self.accounts.get(kind, {}))

    def export(self, mqtt: Iterable[str] = (), kafka: Iterable[str] = ()) -> bytes:
        """A secrets file with only the named accounts (what one process should hold)."""
        wanted: dict[Kind, Iterable[str]] = {"mqtt": mqtt, "kafka": kafka}
        plain = {
            kind: {n: self.password(kind, n).get_secret_value() for n in sorted(wanted[kind])}
            for kind in KINDS
        }
        return (json.dumps({"version": 1, **plain}, indent=1) + "\n").encode()


def load_secrets(path: Path) -> AccountSecrets:
    """Read the secrets file; :class:`ConfigError` says how to create it when it is missing."""
    try:
        raw = read_private(path)
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: `fleet stack up` creates the stack's account secrets"
        ) from None
    return _parse(path, raw)


def ensure_secrets(
    path: Path, mqtt: Iterable[str] = (), kafka: Iterable[str] = ()
) -> AccountSecrets:
    """The secrets file with a secret for every named account; missing ones are generated,
    existing ones kept. Safe against concurrent callers (a lock file beside it)."""
    wanted: dict[Kind, set[str]] = {"mqtt": set(mqtt), "kafka": set(kafka)}
    with _locked(path):
        try:
            current = _parse(path, read_private(path))
        except FileNotFoundError:
            current = AccountSecrets(path, {kind: {} for kind in KINDS})
        missing = {kind: wanted[kind] - set(current.accounts.get(kind, {})) for kind in KINDS}
        if not any(missing.values()):
            return current
        merged: dict[Kind, dict[str, SecretStr]] = {
            kind: dict(current.accounts.get(kind, {})) for kind in KINDS
        }
        for kind in KINDS:
            merged[kind].update({name: SecretStr(new_secret()) for name in missing[kind]})
        secrets = AccountSecrets(path, merged)
        write_private(path, secrets.export(merged["mqtt"], merged["kafka"]))
        return secrets


def _parse(path: Path, raw: bytes) -> AccountSecrets:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not a secrets file: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ConfigError(f"{path} is not a version-1 secrets file")
    accounts: dict[Kind, dict[str, SecretStr]] = {}
    for kind in KINDS:
        entries = data.get(kind, {})
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in entries.items()
        ):
            raise ConfigError(f"{path}: {kind!r} must map account names to non-empty strings")
        accounts[kind] = {name: SecretStr(value) for name, value in entries.items()}
    return AccountSecrets(path, accounts)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    private_dir(path.parent)
    with (path.parent / f".{path.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
