"""OTA chunk protocol and its server side.

A device requests ``{"version", "offset", "length"}`` on ``fleet/<id>/ota/req``; the server
answers on ``fleet/<id>/ota/chunk`` with the bytes (base64) and their CRC-32. The device
writes a chunk only when the CRC matches and the offset is the next one it expects, so after
a reconnect it simply asks again from its last good offset (resumable, stateless server).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import zlib
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from services.errors import ValidationError
from services.schemas.base import UINT32_MAX, Message, ReleaseVersion, parse
from services.security.mqtt import MqttAccess

log = logging.getLogger(__name__)

MAX_CHUNK = 16 * 1024  # bytes per chunk a server answers with at most
REQ_RE = re.compile(r"^fleet/([^/]+)/ota/req$")


Offset = Annotated[int, Field(ge=0, le=UINT32_MAX)]  # the C slot manager counts in uint32
# standard base64 of at most MAX_CHUNK bytes: anything else is refused when parsed
Base64 = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$", max_length=4 * (MAX_CHUNK // 3 + 1)),
]


class ChunkRequest(Message):
    schema_version: Literal[1] = 1
    version: ReleaseVersion  # release the bytes belong to
    offset: Offset
    length: int = Field(ge=1, le=MAX_CHUNK)


class Chunk(Message):
    schema_version: Literal[1] = 1
    version: ReleaseVersion
    offset: Offset
    total: int = Field(ge=1, le=UINT32_MAX)  # blob size, so the device knows when it is done
    data_b64: Base64  # the bytes, standard base64
    crc32: int = Field(ge=0, le=0xFFFFFFFF)  # zlib.crc32 of the bytes

    def data(self) -> bytes:
        """The bytes; binascii.Error when the padding is wrong (the alphabet is checked on
        parsing)."""
        return base64.b64decode(self.data_b64, validate=True)


def make_chunk(version: int, blob: bytes, offset: int, length: int) -> Chunk:
    data = blob[offset : offset + min(length, MAX_CHUNK)]
    return Chunk(
        version=version, offset=offset, total=len(blob),
        data_b64=base64.b64encode(data).decode("ascii"), crc32=zlib.crc32(data),
    )  # fmt: skip


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
        match = REQ_RE.match(topic)
        if match is None:
            return None
        try:
            request = parse(ChunkRequest, payload)
        except ValidationError as exc:
            log.warning("bad chunk request on %s: %s", topic, exc.reason)
            return None
        chunk = self.chunk_for(request)
        if chunk is None:
            return None
        self.served += 1
        return f"fleet/{match.group(1)}/ota/chunk", chunk.to_bytes()

    def serve_mqtt(self, access: MqttAccess):
        """Run on a paho client (the ``rollout`` service account); returns the client."""
        client = access.client(f"rollout-chunks-{id(self):x}")

        def on_connect(c, userdata, flags, reason_code, properties) -> None:
            c.subscribe("fleet/+/ota/req", qos=1)

        def on_message(c, userdata, message) -> None:
            reply = self.answer(message.topic, message.payload)
            if reply is not None:
                c.publish(reply[0], reply[1], qos=1)

        client.on_connect = on_connect
        client.on_subscribe = lambda *args: self.ready.set()
        client.on_message = on_message
        client.connect(access.host, access.port, keepalive=30)
        client.loop_start()
        return client
