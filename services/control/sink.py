"""Where accepted commands go and where recent ones are read back: the Kafka ``ops.commands``
topic, behind a small abstract base with an in-memory double for tests."""

from __future__ import annotations

import abc
import threading
from typing import Any

from contract.errors import ValidationError
from contract.schemas.ops import Halt, Redistill, Rollback, Rollout, parse_ops_command
from services.errors import ServiceError
from services.security.kafka import KafkaAccess
from services.topic_reader import TopicReader

Command = Redistill | Rollout | Halt | Rollback


class CommandSinkError(ServiceError):
    """The command log is unreachable, or did not acknowledge a command in time."""


class CommandSink(abc.ABC):
    """The durable log of operator commands (Kafka ``ops.commands`` in production)."""

    @abc.abstractmethod
    def send(self, command: Command) -> None:
        """Called once per accepted request (on a worker thread); returns only once the
        command is stored with full durability (Kafka: acks=all). Raises
        :class:`CommandSinkError` when it is not: the API then answers 503, and the command
        may or may not have been stored (a timeout leaves that open; consumers act on each
        ``command_id`` once, and the caller sees it in :meth:`recent` if it was)."""

    @abc.abstractmethod
    def recent(self, limit: int) -> list[Command]:
        """Called per page or ``GET /api/v1/commands`` (on a worker thread): the last
        ``limit`` stored commands, oldest first; records that are not valid commands are
        skipped. Raises :class:`CommandSinkError` when the log cannot be read."""

    @abc.abstractmethod
    def close(self) -> None:
        """Called once at shutdown; releases connections."""


class MemoryCommandSink(CommandSink):
    """Test double: a list; ``unavailable`` makes every call fail like a broker that is down."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.unavailable = False
        self._lock = threading.Lock()

    def send(self, command: Command) -> None:
        with self._lock:
            if self.unavailable:
                raise CommandSinkError("command log unavailable (test double)")
            self.commands.append(command)

    def recent(self, limit: int) -> list[Command]:
        with self._lock:
            if self.unavailable:
                raise CommandSinkError("command log unavailable (test double)")
            return self.commands[-limit:]

    def close(self) -> None:
        pass


class KafkaCommandSink(CommandSink):
    """kafka-python: an idempotent producer with acks=all, keyed by command id; the recent
    commands are read back from the topic's tail through the process's one reader."""

    def __init__(
        self, kafka: KafkaAccess, topic: str, ack_timeout_s: float, reader: TopicReader
    ) -> None:
        self.kafka, self.topic = kafka, topic
        self.ack_timeout_s, self.reader = ack_timeout_s, reader
        self._producer: Any = None  # kafka.KafkaProducer, created on first send
        self._lock = threading.Lock()

    def _get_producer(self) -> Any:  # a kafka.KafkaProducer (kafka-python is untyped)
        from kafka.errors import KafkaError

        with self._lock:
            if self._producer is None:
                ack_ms = int(self.ack_timeout_s * 1000)
                try:
                    self._producer = self.kafka.producer(
                        client_id="fleet-control",
                        acks="all",
                        enable_idempotence=True,
                        linger_ms=0,
                        request_timeout_ms=ack_ms,
                        delivery_timeout_ms=ack_ms,  # give up (not retry later) after the answer
                        max_block_ms=ack_ms,
                        bootstrap_timeout_ms=ack_ms,  # Kafka down: 503 after this long
                    )
                except KafkaError as exc:
                    raise CommandSinkError(f"Kafka at {self.kafka}: {exc}") from exc
            return self._producer

    def send(self, command: Command) -> None:
        from kafka.errors import KafkaError

        producer = self._get_producer()
        try:
            future = producer.send(
                self.topic, key=command.command_id.encode(), value=command.to_bytes()
            )
            future.get(timeout=self.ack_timeout_s + 1)
        except KafkaError as exc:
            raise CommandSinkError(
                f"{self.topic} did not acknowledge {command.command_id}: {exc}"
            ) from exc

    def recent(self, limit: int) -> list[Command]:
        commands = []
        for raw in self.reader.newest(self.topic, limit):
            try:
                commands.append(parse_ops_command(raw))
            except ValidationError:
                continue  # not ours to judge here; consumers dead-letter it
        return commands[-limit:]

    def close(self) -> None:
        from kafka.errors import KafkaError

        with self._lock:
            if self._producer is not None:
                try:
                    self._producer.close(timeout=5)
                except KafkaError as exc:
                    raise CommandSinkError(f"closing the producer failed: {exc}") from exc
                self._producer = None
        self.reader.close()
