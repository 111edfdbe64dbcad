"""MQTT v5 wire format, the subscriber's half (OASIS MQTT 5.0, section 3).

Only what the gateway sends (CONNECT, SUBSCRIBE, PUBACK, PINGREQ, DISCONNECT) and what it
must read (CONNACK, SUBACK, PUBLISH at QoS 0/1, PINGRESP, DISCONNECT). Properties the broker
attaches to a PUBLISH are skipped, not decoded: the gateway forwards the payload unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from services.errors import ServiceError

CONNACK, PUBLISH, SUBACK, PINGRESP, DISCONNECT_TYPE = 2, 3, 9, 13, 14
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"  # normal disconnection; the session stays for its expiry interval
_PROP_SESSION_EXPIRY = 0x11
_PROP_RECEIVE_MAXIMUM = 0x21
MAX_PACKET_BYTES = 1024 * 1024  # above Mosquitto's message_size_limit plus headers


class ProtocolError(ServiceError):
    """The broker sent something this client does not accept, or went away."""


def varint(n: int) -> bytes:
    """Variable byte integer (1.5.5)."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str) -> bytes:
    data = s.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + varint(len(body)) + body


def connect_packet(
    client_id: str,
    username: str,
    password: str,
    keepalive_s: int,
    session_expiry_s: int,
    receive_maximum: int,
    clean_start: bool = False,
) -> bytes:
    """CONNECT (3.1) with username and password; clean start off unless asked for."""
    props = struct.pack("!BIBH", _PROP_SESSION_EXPIRY, session_expiry_s,
                        _PROP_RECEIVE_MAXIMUM, receive_maximum)  # fmt: skip
    flags = 0x80 | 0x40 | (0x02 if clean_start else 0)  # username, password, clean start
    header = _string("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive_s)
    payload = _string(client_id) + _string(username) + _string(password)
    return _packet(0x10, header + varint(len(props)) + props + payload)


def subscribe_packet(packet_id: int, filters: tuple[str, ...] | list[str]) -> bytes:
    """SUBSCRIBE (3.8) of every filter at QoS 1."""
    body = struct.pack("!H", packet_id) + varint(0)
    body += b"".join(_string(f) + b"\x01" for f in filters)
    return _packet(0x82, body)


def puback_packet(packet_id: int) -> bytes:
    """PUBACK (3.4), success: reason code and properties omitted."""
    return b"\x40\x02" + struct.pack("!H", packet_id)


def _read_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(4):
        if pos + i >= len(buf):
            raise IndexError("incomplete variable byte integer")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise ProtocolError("malformed variable byte integer")


def parse_connack(body: bytes) -> tuple[bool, int]:
    """(session present, reason code)."""
    if len(body) < 2:
        raise ProtocolError("short CONNACK")
    return bool(body[0] & 1), body[1]


def parse_suback(body: bytes) -> list[int]:
    """The reason code of each filter."""
    props_len, pos = _read_varint(body, 2)
    return list(body[pos + props_len :])


def reason_of(body: bytes) -> str:
    return f"reason code 0x{body[0]:02x}" if body else "normal"


def parse_publish(first_byte: int, body: bytes) -> tuple[str, int, bytes]:
    """(topic, packet id or 0 for QoS 0, payload) of a PUBLISH (3.3)."""
    qos = (first_byte >> 1) & 3
    if qos > 1:
        raise ProtocolError("QoS 2 PUBLISH on a QoS 1 subscription")
    topic_len = (body[0] << 8) | body[1]
    pos = 2 + topic_len
    topic = body[2:pos].decode("utf-8")
    mid = 0
    if qos:
        mid = (body[pos] << 8) | body[pos + 1]
        pos += 2
    props_len, pos = _read_varint(body, pos)
    return topic, mid, body[pos + props_len :]


class PacketReader:
    """Splits a byte stream into packets: ``feed(data)`` yields every complete one as
    ``(type, body)``; PUBLISH bodies come parsed as ``(topic, packet id, payload)``."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, Any]]:
        buf = self._buf
        buf += data
        pos = 0
        end = len(buf)
        try:
            while pos + 2 <= end:
                first = buf[pos]
                length, start = _read_varint(buf, pos + 1)
                if length > MAX_PACKET_BYTES:
                    raise ProtocolError(f"packet of {length} bytes")
                stop = start + length
                if stop > end:
                    break
                kind = first >> 4
                body = bytes(buf[start:stop])
                pos = stop
                if kind != PUBLISH:
                    yield kind, body
                    continue
                try:
                    publish = parse_publish(first, body)
                except (IndexError, UnicodeDecodeError) as exc:
                    raise ProtocolError(f"malformed PUBLISH: {exc}") from exc
                yield kind, publish
        except IndexError:
            pass  # the rest of a header is still on its way
        finally:
            del buf[:pos]
