"""MQTT for the agent: an abstract transport, paho-mqtt 2 (MQTT v5, persistent session),
and an in-memory broker double for unit tests."""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.errors import TransportError
from services.security.mqtt import MqttAccess

OnMessage = Callable[[str, bytes], None]
OnConnect = Callable[[], None]


class Transport(abc.ABC):
    """One device's MQTT connection."""

    on_message: OnMessage | None = None  # runs on the transport's thread per message
    on_connect: OnConnect | None = None  # runs on the transport's thread after each (re)connect

    @abc.abstractmethod
    def start(self) -> None:
        """Runs once at agent start: connect in the background and keep reconnecting.
        Raises TransportError only for a configuration error (unknown host)."""

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


class PahoTransport(Transport):
    def __init__(
        self,
        access: MqttAccess,
        client_id: str = "",
        session_expiry_s: int = 3600,
        keepalive_s: int = 30,
        client: mqtt.Client | None = None,
    ) -> None:
        """``client_id`` is replaced by the device id on the devices' listener."""
        self.host, self.port, self.keepalive_s = access.host, access.port, keepalive_s
        self.session_expiry_s = session_expiry_s
        self._connected = threading.Event()
        self.client = access.configure(client) if client else access.client(client_id)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self, loop: bool = True) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        try:
            self.client.connect_async(
                self.host, self.port, keepalive=self.keepalive_s, clean_start=False,
                properties=props,
            )  # fmt: skip
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        if loop:
            self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            return
        self._connected.set()
        if self.on_connect:
            self.on_connect()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    def _on_message(self, client, userdata, message) -> None:
        if self.on_message:
            self.on_message(message.topic, message.payload)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self.client.subscribe(topic, qos)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        if not self._connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        self._last = info
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def close(self, drain_s: float = 5.0) -> None:
        """Wait (up to ``drain_s``) for the last QoS 1 publish to be acknowledged; Mosquitto
        acknowledges in order, so the earlier ones are then delivered too."""
        last = getattr(self, "_last", None)
        if last is not None and self.connected:
            last.wait_for_publish(timeout=drain_s)
        self.client.disconnect()
        self.client.loop_stop()


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
