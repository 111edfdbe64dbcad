"""Retained group manifests over MQTT (paho-mqtt 2, the registry's ``rollout`` account)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from contract.mqtt import MqttAccess
from contract.topics import group_manifest_topic
from services.rollout.adapters import ManifestPublisher, RolloutIOError


class MqttManifestPublisher(ManifestPublisher):
    """QoS 1, retained; :meth:`publish` returns only after the broker's PUBACK."""

    def __init__(self, access: MqttAccess, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._connected = threading.Event()
        self._acks: dict[int, mqtt.ReasonCode] = {}
        self.client = access.client(f"rollout-manifests-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *args: self._connected.clear()
        self.client.on_publish = self._on_publish
        try:
            self.client.connect(access.host, access.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise RolloutIOError(f"cannot connect to {access}: {exc}") from exc
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            self.close()
            raise RolloutIOError(f"{access} refused or did not answer")

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason_code.is_failure:
            self._connected.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        self._acks[mid] = reason_code

    def publish(self, group: str, payload: bytes | None) -> None:
        topic = group_manifest_topic(group)
        if not self._connected.wait(self.timeout_s):
            raise RolloutIOError(f"not connected to MQTT; {topic} not published")
        info = self.client.publish(topic, payload or b"", qos=1, retain=True)
        try:
            info.wait_for_publish(timeout=self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise RolloutIOError(f"publish to {topic} failed: {exc}") from exc
        if not info.is_published():
            raise RolloutIOError(f"no PUBACK for {topic} within {self.timeout_s} s")
        code = self._acks.pop(info.mid, None)
        if code is not None and code.is_failure:
            raise RolloutIOError(f"broker refused {topic}: {code}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
