"""The local stack as one object: ``Stack(settings).up() / down() / status()``.

Used by ``fleet stack`` and by the pytest fixtures. ``up`` is idempotent: components that
already run are reused (their generated config is refreshed), the rest are started and
waited for; if any fails, the ones this call started are stopped again.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from services.errors import StackError
from services.settings import FleetSettings
from services.stack.alertmanager import Alertmanager
from services.stack.component import Component, ComponentStatus
from services.stack.kafka import Kafka
from services.stack.mosquitto import Mosquitto
from services.stack.prometheus import Prometheus

log = logging.getLogger(__name__)


def ensure_stack_secrets(settings: FleetSettings) -> None:
    """A secret for every MQTT account of the registry and every Kafka account of the ACL
    policy (the brokers' configurations need them before they start)."""
    from services.security.kafka_acls import KAFKA_ACCOUNTS
    from services.security.secrets import ensure_secrets
    from services.stack.registry import load_registry

    registry = load_registry(settings.stack.registry)
    ensure_secrets(settings.secrets_file, mqtt=registry.account_names(), kafka=KAFKA_ACCOUNTS)


COMPONENT_TYPES: dict[str, type[Component]] = {
    "kafka": Kafka,
    "mosquitto": Mosquitto,
    "prometheus": Prometheus,
    "alertmanager": Alertmanager,
}


class Stack:
    def __init__(self, settings: FleetSettings) -> None:
        self.settings = settings
        self.components: dict[str, Component] = {
            name: cls(settings) for name, cls in COMPONENT_TYPES.items()
        }

    @property
    def kafka(self) -> Kafka:
        component = self.components["kafka"]
        assert isinstance(component, Kafka)
        return component

    @property
    def mosquitto(self) -> Mosquitto:
        component = self.components["mosquitto"]
        assert isinstance(component, Mosquitto)
        return component

    @property
    def prometheus(self) -> Prometheus:
        component = self.components["prometheus"]
        assert isinstance(component, Prometheus)
        return component

    @property
    def alertmanager(self) -> Alertmanager:
        component = self.components["alertmanager"]
        assert isinstance(component, Alertmanager)
        return component

    def _select(self, names: Sequence[str] | None) -> list[Component]:
        if not names:
            return list(self.components.values())
        unknown = sorted(set(names) - set(self.components))
        if unknown:
            raise StackError(f"unknown component(s) {unknown}; valid: {sorted(self.components)}")
        return [self.components[n] for n in self.components if n in names]

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise up/down between processes (several test sessions, a shell)."""
        data_dir: Path = self.settings.stack.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        with (data_dir / "stack.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def up(self, names: Sequence[str] | None = None) -> list[str]:
        """Start what is not running, wait until all answer; return the names started."""
        selected = self._select(names)
        started: list[Component] = []
        with self._lock():
            ensure_stack_secrets(self.settings)
            try:
                reused = []
                for component in selected:
                    if component.process.pid() is not None and component.needs_restart():
                        log.warning("%s runs with outdated settings; restarting it", component.name)
                        component.process.stop()
                    if component.process.pid() is not None:
                        reused.append(component)
                    else:
                        component.start()
                        started.append(component)
                for component in selected:
                    component.wait_ready()
                for component in reused:
                    component.refresh()
                for component in selected:
                    component.after_ready()
            except BaseException:
                for component in reversed(started):
                    with contextlib.suppress(StackError):
                        component.process.stop()
                raise
        return [c.name for c in started]

    def down(self, names: Sequence[str] | None = None) -> list[str]:
        """Stop the selected components (process groups); return the names that were up."""
        stopped = []
        with self._lock():
            for component in reversed(self._select(names)):
                if component.process.stop():
                    stopped.append(component.name)
        return stopped

    def status(self, deep: bool = True) -> list[ComponentStatus]:
        return [component.status(deep) for component in self.components.values()]
