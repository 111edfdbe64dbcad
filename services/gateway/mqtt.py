"""The gateway's MQTT side: one MQTT v5 subscriber connection with manual acknowledgements.

The session is persistent (clean start off, session expiry) under a stable client id, so
messages the gateway received but did not acknowledge before a crash are delivered again
when it reconnects, and messages published while it is away queue for it. The broker sends
at most ``max_in_flight`` unacknowledged messages (Receive Maximum): back-pressure.

Written against the socket instead of paho-mqtt because the gateway needs only the
subscriber half of MQTT v5 (CONNECT, SUBSCRIBE, receive QoS 0/1 PUBLISH, PUBACK, PING) and
paho's general client cost more CPU per message than validation and the Kafka produce
together (README, gateway profile): it reads every packet with three ``recv`` calls, parses
each message's v5 properties into objects, and queues every PUBACK through its event loop.
Here one ``recv`` reads every packet that has arrived, and the PUBACKs of a burst of Kafka
deliveries leave in one ``send`` from an ack thread. The wire format is in
:mod:`services.gateway.mqtt_wire`.
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

from services.errors import ServiceError
from services.gateway import mqtt_wire as wire
from services.gateway.bridge import Bridge
from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

RECV_BYTES = 256 * 1024


class MqttIntake:
    def __init__(self, settings: GatewaySettings, bridge: Bridge) -> None:
        self.settings = settings
        self.bridge = bridge
        self.connected = threading.Event()
        # Packet ids are per connection: an ack for a message of an earlier connection could
        # acknowledge a different message that reuses its id, so such acks are skipped (the
        # broker redelivers those messages on the new connection anyway).
        self.generation = 0
        self._sock: socket.socket | None = None
        # Every read and write of the connection holds it: an SSL object must not be used by
        # two threads at once (the reader waits for data in select(), outside the lock).
        self._io_lock = threading.Lock()
        self._last_sent = time.monotonic()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # (packet id, generation) of delivered messages; None wakes the ack thread to stop
        self._acks: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self._acker: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (a broker that cannot be reached at all is an error), then read on a
        thread that reconnects with a backoff whenever the connection drops."""
        try:
            sock = self._open()
        except OSError as exc:
            raise ServiceError(f"cannot reach Mosquitto at {self.settings.mqtt}: {exc}") from exc
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="mqtt-intake", daemon=True
        )
        self._acker = threading.Thread(target=self._send_acks, name="mqtt-acks", daemon=True)
        self._acker.start()
        self._thread.start()

    def stop(self) -> None:
        """Disconnect normally (the session and its unacknowledged messages stay)."""
        self._stopping.set()
        self._acks.put(None)
        if self._acker is not None:
            self._acker.join(timeout=10)  # acks of delivered messages leave before DISCONNECT
        sock = self._sock
        if sock is not None:
            try:
                self._send(sock, wire.DISCONNECT)
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- connection -----------------------------------------------------------------------

    def _open(self) -> socket.socket:
        return open_transport(self.settings)

    def _run(self, sock: socket.socket | None = None) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                if sock is None:
                    sock = self._open()
                self._session(sock)
                delay = 1.0
            except (OSError, wire.ProtocolError) as exc:
                if not self._stopping.is_set():
                    log.warning("MQTT disconnected: %s", exc)
            finally:
                self.connected.clear()
                self._sock = None
                if sock is not None:
                    sock.close()
                sock = None
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, 5.0)

    def _session(self, sock: socket.socket) -> None:
        s = self.settings
        connect = wire.connect_packet(
            s.client_id, s.mqtt.username, s.mqtt.password.get_secret_value(), s.keepalive_s,
            s.session_expiry_s, s.max_in_flight,
        )  # fmt: skip
        sock.settimeout(max(1.0, s.keepalive_s / 2))
        self._send(sock, connect)
        reader = wire.PacketReader()
        packets = self._read(sock, reader)
        kind, body = next(packets)
        if kind != wire.CONNACK:
            raise wire.ProtocolError(f"expected CONNACK, got packet type {kind}")
        session_present, reason = wire.parse_connack(body)
        if reason >= 0x80:
            log.error("MQTT connect refused: reason code 0x%02x", reason)
            raise wire.ProtocolError(f"connect refused (0x{reason:02x})")
        self.generation += 1
        self._sock = sock
        log.info("connected as %s (session present: %s)", s.client_id, session_present)
        self._send(sock, wire.subscribe_packet(1, s.subscriptions))
        generation = self.generation
        for kind, body in packets:
            if kind == wire.PUBLISH:
                topic, mid, payload = body
                ack = partial(self._ack, mid, generation) if mid else _noop
                self.bridge.submit(topic, payload, ack)
            elif kind == wire.SUBACK:
                refused = [c for c in wire.parse_suback(body) if c >= 0x80]
                if refused:
                    log.error("subscription refused: %s", [hex(c) for c in refused])
                else:
                    log.info("subscribed to %s", ", ".join(s.subscriptions))
                    self.connected.set()
            elif kind == wire.DISCONNECT_TYPE:
                raise wire.ProtocolError(f"broker disconnected us: {wire.reason_of(body)}")

    def _read(self, sock: socket.socket, reader: wire.PacketReader) -> Iterator[tuple[int, Any]]:
        """Packets as they arrive; PINGREQ on idle, dead after 1.5 keep-alives of silence."""
        keepalive = self.settings.keepalive_s
        last_heard = time.monotonic()
        while not self._stopping.is_set():
            data = self._recv(sock, timeout=max(1.0, keepalive / 2))
            now = time.monotonic()
            if data == b"":
                raise wire.ProtocolError("connection closed by the broker")
            if data:
                last_heard = now
                yield from reader.feed(data)
            elif now - last_heard > 1.5 * keepalive:
                raise wire.ProtocolError(f"no answer from the broker for {now - last_heard:.0f} s")
            if now - self._last_sent >= keepalive / 2:
                self._send(sock, wire.PINGREQ)

    def _recv(self, sock: socket.socket, timeout: float) -> bytes | None:
        """What has arrived (b"" once the broker closed), or None after ``timeout``."""
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not pending and not select.select([sock], [], [], timeout)[0]:
            return None
        with self._io_lock:
            try:
                return sock.recv(RECV_BYTES)
            except (TimeoutError, ssl.SSLWantReadError):  # a TLS record not complete yet
                return None

    # -- writes (any thread) --------------------------------------------------------------

    def _send(self, sock: socket.socket, data: bytes) -> None:
        with self._io_lock:
            sock.sendall(data)
            self._last_sent = time.monotonic()

    def _ack(self, mid: int, generation: int) -> None:
        """Called once Kafka has the message (any thread); the ack thread sends it."""
        self._acks.put((mid, generation))

    def _send_acks(self) -> None:
        """Everything queued since the last wake-up goes out as one write."""
        while True:
            item = self._acks.get()
            batch = []
            while item is not None:
                mid, generation = item
                if generation == self.generation:  # else: an earlier connection's message,
                    batch.append(wire.puback_packet(mid))  # which the broker sends again
                try:
                    item = self._acks.get_nowait()
                except queue.Empty:
                    break
            sock = self._sock
            if batch and sock is not None:
                try:
                    self._send(sock, b"".join(batch))
                except OSError as exc:  # the reader notices the dead connection, reconnects
                    log.debug("%d PUBACKs not sent: %s", len(batch), exc)
            if item is None:
                return


def open_transport(settings: GatewaySettings) -> socket.socket:
    """A TCP connection to the broker, in TLS (broker certificate and name verified by
    the stack's CA) unless the stack runs plain listeners (the one place a transport is
    chosen)."""
    s = settings
    sock = socket.create_connection((s.mqtt.host, s.mqtt.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if s.mqtt.tls:
        try:
            return s.mqtt.ssl_context().wrap_socket(sock, server_hostname=s.mqtt.host)
        except (OSError, ssl.SSLError):
            sock.close()
            raise
    return sock


def _noop() -> None:
    pass


def end_session(settings: GatewaySettings) -> None:
    """Delete the persistent session of ``settings.client_id`` on the broker (connect with
    clean start and no expiry, then disconnect): for a gateway that will not come back, whose
    session would otherwise keep its place in the share group and queue messages for it
    until it expires."""
    mqtt = settings.mqtt
    sock = open_transport(settings)
    try:
        sock.sendall(wire.connect_packet(
            settings.client_id, mqtt.username, mqtt.password.get_secret_value(), 10, 0, 1,
            clean_start=True,
        ))  # fmt: skip
        reader = wire.PacketReader()
        while True:
            data = sock.recv(4096)
            if not data:
                raise wire.ProtocolError("connection closed before CONNACK")
            packets = list(reader.feed(data))
            if packets:
                break
        kind, body = packets[0]
        if kind != wire.CONNACK or wire.parse_connack(body)[1] >= 0x80:
            raise wire.ProtocolError(f"could not end the session of {settings.client_id}")
        sock.sendall(wire.DISCONNECT)
    finally:
        sock.close()
