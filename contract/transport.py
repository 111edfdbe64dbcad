"""The MQTT client interface both sides program against (one connection: subscribe, publish,
callbacks), and its in-memory double: a broker that routes publishes to subscribed clients
synchronously and keeps retained messages, for unit tests of the devices and the services
without Mosquitto. The real client is ``edge_agent.transport.PahoTransport``.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt

OnMessage = Callable[[str, bytes], None]
OnConnect = Callable[[], None]


class Transport(abc.ABC):
    """One device's MQTT connection."""

    on_message: OnMessage | None = None  # runs on the transport's thread per message
    on_connect: OnConnect | None = None  # runs on the transport's thread after each (re)connect

    @abc.abstractmethod
    def start(self) -> None:
        """Runs once at agent start: connect in the background and keep reconnecting.
        Raises the implementation's error only for a configuration error (unknown host)."""

    @abc.abstractmethod
    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Runs from ``on_connect``; the persistent session keeps it across reconnects."""

    @abc.abstractmethod
    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        """Runs per outgoing message. False means "not connected, not taken": the caller
        buffers it. True means the client owns it (QoS 1 is retried until acknowledged)."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Runs at shutdown: disconnect cleanly (the session stays on the broker)."""


class MemoryBroker:
    """Routes publishes to subscribed :class:`MemoryTransport` s synchronously; keeps
    retained messages; ``published`` records everything for assertions."""

    def __init__(self) -> None:
        self.clients: list[MemoryTransport] = []
        self.retained: dict[str, bytes] = {}
        self.published: list[tuple[str, bytes]] = []
        self.lock = threading.RLock()

    def route(self, topic: str, payload: bytes, retain: bool) -> None:
        with self.lock:
            self.published.append((topic, payload))
            if retain:
                self.retained[topic] = payload
            targets = [c for c in self.clients if c.connected and c.matches(topic)]
        for client in targets:
            client.deliver(topic, payload)

    def messages(self, topic: str) -> list[bytes]:
        return [p for t, p in self.published if t == topic]


class MemoryTransport(Transport):
    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self.subscriptions: set[str] = set()
        self._connected = False
        broker.clients.append(self)

    def start(self) -> None:
        self.set_online(True)

    def set_online(self, online: bool) -> None:
        """Simulate the network going away or coming back (then ``on_connect`` runs)."""
        self._connected = online
        if online and self.on_connect:
            self.on_connect()

    def matches(self, topic: str) -> bool:
        return any(mqtt.topic_matches_sub(sub, topic) for sub in self.subscriptions)

    def deliver(self, topic: str, payload: bytes) -> None:
        if self.on_message:
            self.on_message(topic, payload)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self.subscriptions.add(topic)
        for retained_topic, payload in list(self.broker.retained.items()):
            if mqtt.topic_matches_sub(topic, retained_topic):
                self.deliver(retained_topic, payload)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        if not self._connected:
            return False
        self.broker.route(topic, payload, retain)
        return True

    @property
    def connected(self) -> bool:
        return self._connected

    def close(self) -> None:
        self._connected = False
