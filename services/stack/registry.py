"""The fleet registry (TOML): devices, groups, credentials, service accounts.

It is the single source of Mosquitto's password file and ACLs (see ``mosquitto.py``) and of
the credentials the simulator, the demo and the tests connect with.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.errors import ConfigError

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# MQTT topic filters for ACLs: printable, no spaces (Mosquitto's ACL file is line based).
TopicFilter = Annotated[str, StringConstraints(pattern=r"^[^\s]{1,256}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128, pattern=r"^[^\s:]+$")]


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Device(_Entry):
    id: Name  # also the MQTT username and the key of its Kafka records
    group: Name  # rollout group; decides which manifest topic it may read
    password: Password

    @property
    def username(self) -> str:
        return self.id

    def read_topics(self) -> list[str]:
        return [f"fleet/{self.id}/ota/#", f"fleet/groups/{self.group}/ota"]

    def write_topics(self) -> list[str]:
        return [f"fleet/{self.id}/pred", f"fleet/{self.id}/status", f"fleet/{self.id}/ota/req"]


class ServiceAccount(_Entry):
    password: Password
    read: list[TopicFilter] = Field(default_factory=list)  # subscribe + receive
    write: list[TopicFilter] = Field(default_factory=list)  # publish


class SimulatedDevices(_Entry):
    """``count`` simulator devices ``<prefix>-0000`` .. in ``group`` (``fleet devices sim``);
    ``fleet devices provision --count N`` sets the count. Local development only: the
    passwords are derived from the id."""

    count: int = Field(0, ge=0, le=10_000)
    prefix: Name = "sim"
    group: Name = "fleet"

    def expand(self) -> list[dict[str, str]]:
        ids = [f"{self.prefix}-{i:04d}" for i in range(self.count)]
        return [{"id": i, "group": self.group, "password": f"{i}-secret"} for i in ids]


class Registry(_Entry):
    groups: dict[Name, str] = Field(min_length=1)  # group -> description
    devices: list[Device] = Field(default_factory=list)  # listed ones, then simulated ones
    simulated: SimulatedDevices | None = None

    @model_validator(mode="before")
    @classmethod
    def _expand_simulated(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("simulated"), dict):
            simulated = SimulatedDevices.model_validate(data["simulated"])
            data = {**data, "devices": [*data.get("devices", []), *simulated.expand()]}
        return data

    services: dict[Name, ServiceAccount] = Field(default_factory=dict)  # username -> account

    @model_validator(mode="after")
    def _consistent(self) -> Registry:
        ids = [d.id for d in self.devices]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate device ids: {duplicates}")
        clash = sorted(set(ids) & set(self.services))
        if clash:
            raise ValueError(f"names used by both a device and a service account: {clash}")
        for device in self.devices:
            if device.group not in self.groups:
                raise ValueError(
                    f"device {device.id} names unknown group {device.group!r}; "
                    f"valid groups: {sorted(self.groups)}"
                )
        return self

    def device(self, device_id: str) -> Device:
        for device in self.devices:
            if device.id == device_id:
                return device
        raise ConfigError(
            f"unknown device {device_id!r}; known: {[d.id for d in self.devices][:10]}"
        )

    def service(self, name: str) -> ServiceAccount:
        try:
            return self.services[name]
        except KeyError:
            raise ConfigError(
                f"unknown service account {name!r}; known: {sorted(self.services)}"
            ) from None

    def group_members(self, group: str) -> list[Device]:
        return [d for d in self.devices if d.group == group]


def load_registry(path: Path) -> Registry:
    """Read and validate a registry file; raise :class:`ConfigError` saying what is wrong."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"fleet registry {path} does not exist") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"fleet registry {path} is not valid TOML: {exc}") from exc
    try:
        return Registry.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"fleet registry {path} is invalid: {exc}") from exc
