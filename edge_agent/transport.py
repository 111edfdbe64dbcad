"""The agent's MQTT connection on paho-mqtt 2 (MQTT v5, persistent session); the interface it
implements and the in-memory broker double are the contract's (``contract/transport.py``)."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from contract.mqtt import MqttAccess
from contract.transport import Transport
from edge_agent.errors import TransportError


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
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho's own
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

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            return
        self._connected.set()
        if self.on_connect:
            self.on_connect()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.on_message:
            self.on_message(message.topic, bytes(message.payload))

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
