"""Fleet registry validation and the Mosquitto ACL generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import ConfigError
from services.settings import REPO_ROOT
from services.stack.mosquitto import listener_accounts, render_acl
from services.stack.registry import load_registry

EXAMPLE = REPO_ROOT / "deploy" / "fleet-registry.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(text)
    return path


def test_example_registry_is_valid_and_has_devices_in_several_groups():
    registry = load_registry(EXAMPLE)
    assert len({d.group for d in registry.devices}) >= 2
    assert {"gateway", "rollout"} <= set(registry.services)


def test_acl_gives_each_device_exactly_its_own_topics():
    registry = load_registry(EXAMPLE)
    acl = render_acl(registry, "devices")
    block = acl.split("user dev-0003\n", 1)[1].split("\n\n", 1)[0].splitlines()
    group = registry.device("dev-0003").group
    assert block == [
        "topic write fleet/dev-0003/pred",
        "topic write fleet/dev-0003/status",
        "topic write fleet/dev-0003/ota/req",
        "topic read fleet/dev-0003/ota/#",
        f"topic read fleet/groups/{group}/ota",
    ]
    services = render_acl(registry, "services")
    assert "topic read $share/gateway/fleet/+/pred" in services
    assert "user dev-" not in services and "user gateway" not in acl  # one listener each
    assert "pattern" not in acl + services  # no rule applies to every user
    assert listener_accounts(registry, "devices") == [d.id for d in registry.devices]
    assert listener_accounts(registry, "services") == sorted(registry.services)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            '[groups]\na="x"\n[[devices]]\nid="d1"\ngroup="b"\n',
            "unknown group",
        ),
        (
            '[groups]\na="x"\n' + '[[devices]]\nid="d1"\ngroup="a"\n' * 2,
            "duplicate device ids",
        ),
        ('[groups]\na="x"\n[[devices]]\nid="a/#"\ngroup="a"\n', "id"),
        (  # secrets are generated into the stack's secrets file, never committed
            '[groups]\na="x"\n[[devices]]\nid="d1"\ngroup="a"\npassword="12345678"\n',
            "passwords do not belong in the registry",
        ),
        ("[groups\n", "not valid TOML"),
    ],
)
def test_invalid_registries_are_refused_with_the_reason(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_registry(_write(tmp_path, text))


def test_missing_registry_says_which_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_registry(tmp_path / "nope.toml")
