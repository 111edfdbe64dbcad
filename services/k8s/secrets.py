"""The Secrets the manifests reference, generated on the operator's machine and printed (to
pipe into ``kubectl apply -f -``), never written into the repository.

- ``fleet-registry``: the fleet registry (the services read their MQTT passwords from it);
- ``mosquitto-auth``: Mosquitto's password file (PBKDF2 hashes, as ``fleet stack up`` makes
  them with ``mosquitto_passwd``) and the ACL rendered from the same registry;
- ``fleet-keys``: the release signing key pair and the control API's tokens, created in
  ``keys_dir`` when they do not exist yet (the same files ``fleet`` uses locally).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from pathlib import Path

from services.errors import ConfigError
from services.k8s.manifests import KEYS_SECRET, MOSQUITTO_SECRET, REGISTRY_SECRET, Obj, meta
from services.stack.mosquitto import credentials, render_acl
from services.stack.registry import load_registry


def _secret(name: str, files: dict[str, bytes]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name),
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(files.items())},
    }


def hashed_passwords(users: dict[str, str]) -> bytes:
    passwd = shutil.which("mosquitto_passwd") or shutil.which(
        "mosquitto_passwd", path="/usr/sbin:/usr/bin"
    )
    if passwd is None:
        raise ConfigError("mosquitto_passwd not found; run `make setup`")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "passwd"
        path.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
        path.chmod(0o600)
        subprocess.run([passwd, "-U", str(path)], check=True, capture_output=True, timeout=120)
        return path.read_bytes()


def secrets(registry_path: Path, keys_dir: Path) -> list[Obj]:
    from services.control.auth import Tokens
    from services.releases.signing import load_or_create_key

    registry = load_registry(registry_path)
    load_or_create_key(keys_dir)
    Tokens.load_or_create(keys_dir)
    keys = {p.name: p.read_bytes() for p in sorted(keys_dir.iterdir()) if p.is_file()}
    return [
        _secret(REGISTRY_SECRET, {"fleet-registry.toml": registry_path.read_bytes()}),
        _secret(
            MOSQUITTO_SECRET,
            {
                "passwd": hashed_passwords(credentials(registry)),
                "acl": render_acl(registry).encode(),
            },
        ),
        _secret(KEYS_SECRET, keys),
    ]
