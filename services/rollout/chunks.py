"""The OTA chunk server: answers the devices' chunk requests (``contract/schemas/chunks.py``)
with the bytes of the releases it holds. Stateless, so a device that reconnects simply asks
again from its last good offset.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from contract.errors import ValidationError
from contract.mqtt import MqttAccess
from contract.schemas.chunks import Chunk, ChunkRequest, make_chunk, parse_chunk_request
from contract.topics import CHUNK_REQUEST_RE, CHUNK_REQUESTS, chunk_topic

log = logging.getLogger(__name__)


class ChunkServer:
    """Answers chunk requests for the blobs it holds (version -> bytes)."""

    def __init__(self, blobs: dict[int, bytes] | None = None) -> None:
        self.blobs: dict[int, bytes] = dict(blobs or {})
        self.served = 0
        self.ready = threading.Event()  # set once the MQTT subscription is acknowledged

    def chunk_for(self, request: ChunkRequest) -> Chunk | None:
        blob = self.blobs.get(request.version)
        if blob is None or request.offset >= len(blob):
            return None
        return make_chunk(request.version, blob, request.offset, request.length)

    def answer(self, topic: str, payload: bytes) -> tuple[str, bytes] | None:
        """The reply (topic, payload) to one request message, or None to ignore it."""
        match = CHUNK_REQUEST_RE.match(topic)
        if match is None:
            return None
        try:
            request = parse_chunk_request(payload)
        except ValidationError as exc:
            log.warning("bad chunk request on %s: %s", topic, exc.reason)
            return None
        chunk = self.chunk_for(request)
        if chunk is None:
            return None
        self.served += 1
        return chunk_topic(match.group(1)), chunk.to_bytes()

    def serve_mqtt(self, access: MqttAccess) -> mqtt.Client:
        """Run on a paho client (the ``rollout`` service account); returns the client."""
        client = access.client(f"rollout-chunks-{id(self):x}")

        def on_connect(
            c: mqtt.Client,
            userdata: Any,
            flags: mqtt.ConnectFlags,
            reason_code: ReasonCode,
            properties: Properties | None,
        ) -> None:
            c.subscribe(CHUNK_REQUESTS, qos=1)

        def on_message(c: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            reply = self.answer(message.topic, bytes(message.payload))
            if reply is not None:
                c.publish(reply[0], reply[1], qos=1)

        client.on_connect = on_connect
        client.on_subscribe = lambda *args: self.ready.set()
        client.on_message = on_message
        client.connect(access.host, access.port, keepalive=30)
        client.loop_start()
        return client
