"""The Secrets the manifests reference, generated on the operator's machine and printed (to
pipe into ``kubectl apply -f -``), never written into the repository.

- ``fleet-registry``: the fleet registry (devices, groups, ACLs; no secret);
- ``fleet-accounts-<service>``: that service's own account secrets (``accounts.json``), from
  a secrets file of the cluster's own (generated like ``fleet stack up`` does, kept on the
  operator's machine, never committed);
- ``mosquitto-auth``: Mosquitto's password files of both listeners (PBKDF2 hashes, as
  ``fleet stack up`` makes them with ``mosquitto_passwd``) and their ACLs from the registry;
- ``fleet-kafka-<account>``: the SCRAM password of each service's Kafka principal, which
  its KafkaUser reads (``services/k8s/kafka_users.py``); the same password is in that
  service's ``accounts.json``;
- ``fleet-keys``: the release signing key pair and the control API's tokens, created in
  ``keys_dir`` when they do not exist yet (the same files ``fleet`` uses locally).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from pathlib import Path

from models.errors import ConfigError
from services.k8s.manifests import (
    KEYS_SECRET,
    MOSQUITTO_SECRET,
    REGISTRY_SECRET,
    SERVICES,
    Obj,
    accounts_secret,
    meta,
)
from services.security.kafka_acls import SERVICE_GRANTS
from services.security.secrets import AccountSecrets, ensure_secrets
from services.stack.mosquitto import LISTENERS, listener_accounts, render_acl
from services.stack.registry import load_registry

# The MQTT accounts each service logs in with (its Secret holds only those).
SERVICE_MQTT_ACCOUNTS = {"gateway": ["gateway"], "rollout": ["rollout"]}


def _secret(name: str, files: dict[str, bytes]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name),
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(files.items())},
    }


def hashed_passwords(accounts: list[str], secrets: AccountSecrets) -> bytes:
    passwd = shutil.which("mosquitto_passwd") or shutil.which(
        "mosquitto_passwd", path="/usr/sbin:/usr/bin"
    )
    if passwd is None:
        raise ConfigError("mosquitto_passwd not found; run `make setup`")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "passwd"
        path.touch(0o600)
        lines = (f"{u}:{secrets.password('mqtt', u).get_secret_value()}\n" for u in accounts)
        path.write_text("".join(lines))
        subprocess.run([passwd, "-U", str(path)], check=True, capture_output=True, timeout=120)
        return path.read_bytes()


def _kafka_password(accounts: AccountSecrets, account: str) -> bytes:
    return accounts.password("kafka", account).get_secret_value().encode()


def secrets(registry_path: Path, keys_dir: Path, secrets_file: Path) -> list[Obj]:
    from services.control.auth import Tokens
    from services.k8s.kafka_users import PASSWORD_KEY, password_secret
    from services.releases.keys import load_or_create_key

    registry = load_registry(registry_path)
    accounts = ensure_secrets(secrets_file, mqtt=registry.account_names(), kafka=SERVICE_GRANTS)
    load_or_create_key(keys_dir)
    Tokens.load_or_create(keys_dir)
    keys = {p.name: p.read_bytes() for p in sorted(keys_dir.iterdir()) if p.is_file()}
    return [
        _secret(REGISTRY_SECRET, {"fleet-registry.toml": registry_path.read_bytes()}),
        _secret(
            MOSQUITTO_SECRET,
            {
                name: content
                for listener in LISTENERS
                for name, content in (
                    (
                        f"{listener}.passwd",
                        hashed_passwords(listener_accounts(registry, listener), accounts),
                    ),
                    (f"{listener}.acl", render_acl(registry, listener).encode()),
                )
            },
        ),
        *(
            _secret(
                accounts_secret(name),
                {
                    "accounts.json": accounts.export(
                        mqtt=SERVICE_MQTT_ACCOUNTS.get(name, ()), kafka=[name]
                    )
                },
            )
            for name in SERVICES
        ),
        *(
            _secret(password_secret(account), {PASSWORD_KEY: _kafka_password(accounts, account)})
            for account in SERVICE_GRANTS
        ),
        _secret(KEYS_SECRET, keys),
    ]
