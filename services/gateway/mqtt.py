"""The gateway's MQTT side: paho-mqtt 2 (MQTT v5) with manual acknowledgements.

The session is persistent (clean_start False, session expiry) under a stable client id, so
messages the gateway received but did not acknowledge before a crash are delivered again
when it reconnects, and messages published while it is away queue for it.
"""

from __future__ import annotations

import logging
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from services.errors import ServiceError
from services.gateway.bridge import Bridge
from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


class MqttIntake:
    def __init__(self, settings: GatewaySettings, bridge: Bridge) -> None:
        self.settings = settings
        self.bridge = bridge
        self.connected = threading.Event()
        # Packet ids are per connection: an ack for a message of an earlier connection could
        # acknowledge a different message that reuses its id, so such acks are skipped (the
        # broker redelivers those messages on the new connection anyway).
        self.generation = 0
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.username_pw_set(settings.username, settings.password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        # The broker never has more than this many unacknowledged messages out to us.
        props.ReceiveMaximum = self.settings.max_in_flight
        try:
            self.client.connect(
                self.settings.mqtt_host,
                self.settings.mqtt_port,
                keepalive=self.settings.keepalive_s,
                clean_start=False,
                properties=props,
            )
        except OSError as exc:
            raise ServiceError(
                f"cannot reach Mosquitto at {self.settings.mqtt_host}:{self.settings.mqtt_port}"
            ) from exc
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT connect refused: %s", reason_code)
            return
        self.generation += 1
        client.subscribe([(topic, 1) for topic in self.settings.subscriptions])
        log.info("connected as %s (session present: %s)", self.settings.client_id,
                 flags.session_present)  # fmt: skip
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("subscription refused: %s", refused)
        else:
            log.info("subscribed to %s", ", ".join(self.settings.subscriptions))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("MQTT disconnected: %s", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        mid, qos, generation = message.mid, message.qos, self.generation
        if qos == 0:
            ack = _noop
        else:

            def ack() -> None:
                if generation == self.generation:
                    client.ack(mid, qos)

        self.bridge.submit(message.topic, message.payload, ack)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _noop() -> None:
    pass
