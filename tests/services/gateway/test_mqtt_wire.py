"""The gateway's MQTT v5 codec: packets as the standard lays them out, a stream split into
packets however the bytes arrive, malformed input refused."""

from __future__ import annotations

import struct

import pytest

from services.gateway import mqtt_wire as wire


def publish(topic: str, payload: bytes, mid: int = 0, props: bytes = b"") -> bytes:
    qos = 1 if mid else 0
    body = struct.pack("!H", len(topic)) + topic.encode()
    if mid:
        body += struct.pack("!H", mid)
    body += wire.varint(len(props)) + props + payload
    return bytes([0x30 | (qos << 1)]) + wire.varint(len(body)) + body


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
     (2_097_152, b"\x80\x80\x80\x01")],
)  # fmt: skip
def test_variable_byte_integers(n, encoded):
    assert wire.varint(n) == encoded


def test_connect_packet_carries_v5_session_settings():
    packet = wire.connect_packet("gw-1", "gateway", "s3cret", 30, 3600, 1000)
    assert packet[0] == 0x10
    body = packet[2:]
    assert packet[1] == len(body)
    assert body[:7] == b"\x00\x04MQTT\x05"
    assert body[7] == 0xC0  # username + password, clean start off
    assert body[8:10] == struct.pack("!H", 30)
    # properties: session expiry 3600, receive maximum 1000
    assert body[10:19] == b"\x08\x11" + struct.pack("!I", 3600) + b"\x21" + struct.pack("!H", 1000)
    assert body[19:] == b"\x00\x04gw-1\x00\x07gateway\x00\x06s3cret"
    ending = wire.connect_packet("gw-1", "gateway", "s3cret", 10, 0, 1, clean_start=True)
    assert ending[9] == 0xC2  # clean start: the broker drops the session


def test_subscribe_and_puback_packets():
    assert wire.subscribe_packet(1, ["a/+", "$share/g/b"]) == (
        b"\x82\x16\x00\x01\x00" + b"\x00\x03a/+\x01" + b"\x00\x0a$share/g/b\x01"
    )
    assert wire.puback_packet(0x1234) == b"\x40\x02\x12\x34"


def test_reader_splits_a_stream_fed_in_any_pieces():
    props = b"\x01\x01" + b"\x23\x00\x05"  # payload format indicator, topic alias (skipped)
    stream = (
        b"\x20\x03\x01\x00\x00"  # CONNACK, session present, success
        + publish("fleet/d1/pred", b'{"a":1}', mid=7, props=props)
        + publish("fleet/d2/status", b"x" * 300)  # QoS 0, two-byte remaining length
        + b"\x90\x04\x00\x01\x00\x01"  # SUBACK: granted QoS 1
        + b"\xd0\x00"  # PINGRESP
    )
    for step in (1, 3, 64, len(stream)):
        reader = wire.PacketReader()
        got = []
        for i in range(0, len(stream), step):
            got.extend(reader.feed(stream[i : i + step]))
        assert got == [
            (wire.CONNACK, b"\x01\x00\x00"),
            (wire.PUBLISH, ("fleet/d1/pred", 7, b'{"a":1}')),
            (wire.PUBLISH, ("fleet/d2/status", 0, b"x" * 300)),
            (wire.SUBACK, b"\x00\x01\x00\x01"),
            (wire.PINGRESP, b""),
        ], step
    assert wire.parse_connack(b"\x01\x00\x00") == (True, 0)
    assert wire.parse_suback(b"\x00\x01\x00\x01\x80") == [1, 0x80]


def test_malformed_input_is_a_protocol_error():
    with pytest.raises(wire.ProtocolError, match="variable byte integer"):
        list(wire.PacketReader().feed(b"\x30\xff\xff\xff\xff\x01"))
    with pytest.raises(wire.ProtocolError, match="malformed PUBLISH"):
        list(wire.PacketReader().feed(b"\x32\x03\x00\x09a"))  # topic longer than the packet
    with pytest.raises(wire.ProtocolError, match="QoS 2"):
        list(wire.PacketReader().feed(publish("t", b"p", mid=1).replace(b"\x32", b"\x34", 1)))
