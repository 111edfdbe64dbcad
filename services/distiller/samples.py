"""Where the distiller keeps what it learns from: teacher-labeled samples (idempotent by
message id), the cursor of samples already used by a cycle, and the ops commands it accepted
(acted on once per command id).

Samples stored since the last completed cycle are *new*; the ones at or below the cursor are
the replay *memory*, which each cycle cuts down to its bounded size
(``services.distiller.memory``) with :meth:`SampleStore.retain`, so the store stays bounded.

:class:`SqliteSampleStore` is the durable one (a file in the data dir, ``synchronous=FULL``:
when a write returns it survives a crash, so Kafka offsets may be committed after it);
:class:`MemorySampleStore` is the in-memory double for unit tests. sqlite is the right tool:
one writer, a few thousand small rows, atomic transactions, no server.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from pathlib import Path

from contract.errors import ValidationError
from contract.schemas import LabeledSample, Redistill, parse_labeled_sample, parse_ops_command
from services.errors import ServiceError


class SampleStoreError(ServiceError):
    """The sample store cannot be opened or written."""


class SampleStore(ABC):
    """Labeled samples in arrival order (``seq`` ascending, not always dense), plus accepted
    commands."""

    @abstractmethod
    def add(self, samples: Sequence[LabeledSample]) -> int:
        """Store the samples whose message id is new; returns how many were new. Runs on the
        ingest thread for every polled batch; when it returns the samples are durable. Raises
        :class:`SampleStoreError` when they could not be stored (nothing is committed then)."""

    @abstractmethod
    def recent(self, limit: int) -> list[LabeledSample]:
        """The ``limit`` most recently stored samples, oldest first (a cycle's training data)."""

    @abstractmethod
    def new_samples(self, limit: int) -> list[LabeledSample]:
        """Up to ``limit`` newest samples stored after the last completed cycle, oldest first."""

    @abstractmethod
    def memory(self) -> list[LabeledSample]:
        """The samples of completed cycles still kept (the replay memory), oldest first."""

    @abstractmethod
    def retain(self, seq: int, keep: Collection[str]) -> int:
        """Forget the samples up to ``seq`` whose message id is not in ``keep``; returns how
        many were forgotten. (A forgotten id delivered again counts as new.)"""

    @abstractmethod
    def high_water(self) -> int:
        """``seq`` of the newest stored sample (0 when empty)."""

    @abstractmethod
    def trained_seq(self) -> int:
        """``seq`` up to which samples were used by a completed cycle."""

    @abstractmethod
    def mark_trained(self, seq: int) -> None:
        """Called after a cycle completed (published or rejected), with the high water it saw."""

    @abstractmethod
    def new_count(self) -> int:
        """Samples stored since the last completed cycle."""

    @abstractmethod
    def count(self) -> int:
        """Samples stored."""

    @abstractmethod
    def add_command(self, command: Redistill) -> bool:
        """Accept a command; False when its ``command_id`` was accepted before (a redelivery)."""

    @abstractmethod
    def pending_commands(self) -> list[Redistill]:
        """Accepted commands not yet acted on, oldest first."""

    @abstractmethod
    def finish_command(self, command_id: str) -> None:
        """Called once the cycle a command asked for ran (whatever its outcome)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; the default has none."""


class MemorySampleStore(SampleStore):
    def __init__(self) -> None:
        self._samples: list[tuple[int, LabeledSample]] = []  # (seq, sample), seq ascending
        self._ids: set[str] = set()
        self._seq = 0
        self._trained = 0
        self._commands: dict[str, tuple[Redistill, bool]] = {}  # id -> (command, done)

    def add(self, samples: Sequence[LabeledSample]) -> int:
        new = 0
        for sample in samples:
            if sample.message_id not in self._ids:
                self._ids.add(sample.message_id)
                self._seq += 1
                self._samples.append((self._seq, sample))
                new += 1
        return new

    def recent(self, limit: int) -> list[LabeledSample]:
        return [s for _, s in self._samples[-limit:]] if limit > 0 else []

    def new_samples(self, limit: int) -> list[LabeledSample]:
        new = [s for seq, s in self._samples if seq > self._trained]
        return new[-limit:] if limit > 0 else []

    def memory(self) -> list[LabeledSample]:
        return [s for seq, s in self._samples if seq <= self._trained]

    def retain(self, seq: int, keep: Collection[str]) -> int:
        kept = [(q, s) for q, s in self._samples if q > seq or s.message_id in keep]
        forgotten = {s.message_id for _, s in self._samples} - {s.message_id for _, s in kept}
        self._samples = kept
        self._ids -= forgotten
        return len(forgotten)

    def high_water(self) -> int:
        return self._seq

    def trained_seq(self) -> int:
        return self._trained

    def new_count(self) -> int:
        return sum(seq > self._trained for seq, _ in self._samples)

    def count(self) -> int:
        return len(self._samples)

    def mark_trained(self, seq: int) -> None:
        self._trained = max(self._trained, seq)

    def add_command(self, command: Redistill) -> bool:
        if command.command_id in self._commands:
            return False
        self._commands[command.command_id] = (command, False)
        return True

    def pending_commands(self) -> list[Redistill]:
        return [c for c, done in self._commands.values() if not done]

    def finish_command(self, command_id: str) -> None:
        command, _ = self._commands[command_id]
        self._commands[command_id] = (command, True)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    accepted REAL NOT NULL DEFAULT (julianday('now'))
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_TRAINED = "SELECT COALESCE((SELECT value FROM state WHERE key = 'trained_seq'), 0)"


class SqliteSampleStore(SampleStore):
    """``<data_dir>/samples.sqlite3``; safe to share between the ingest and cycle threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise SampleStoreError(f"cannot open the sample store {self.path}: {exc}") from exc

    def _write(self, sql: str, rows: Sequence[tuple[object, ...]]) -> int:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                before = self._db.total_changes
                self._db.executemany(sql, rows)
                changed = self._db.total_changes - before
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise SampleStoreError(f"sample store write failed: {exc}") from exc
        return changed

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise SampleStoreError(f"sample store read failed: {exc}") from exc

    def add(self, samples: Sequence[LabeledSample]) -> int:
        rows = [(s.message_id, s.to_bytes()) for s in samples]
        return self._write("INSERT OR IGNORE INTO samples (message_id, body) VALUES (?, ?)", rows)

    def _parse(self, rows: list[tuple[object, ...]]) -> list[LabeledSample]:
        out = []
        for (body,) in rows:
            assert isinstance(body, bytes), "samples.body is a BLOB"
            try:
                out.append(parse_labeled_sample(body))
            except ValidationError as exc:  # written by an older schema: skip, do not train
                raise SampleStoreError(f"stored sample does not parse: {exc.reason}") from exc
        return out

    def recent(self, limit: int) -> list[LabeledSample]:
        return self._parse(self._read(
            "SELECT body FROM (SELECT seq, body FROM samples ORDER BY seq DESC LIMIT ?) "
            "ORDER BY seq", (limit,),
        ))  # fmt: skip

    def new_samples(self, limit: int) -> list[LabeledSample]:
        return self._parse(self._read(
            f"SELECT body FROM (SELECT seq, body FROM samples WHERE seq > ({_TRAINED}) "
            "ORDER BY seq DESC LIMIT ?) ORDER BY seq", (limit,),
        ))  # fmt: skip

    def memory(self) -> list[LabeledSample]:
        return self._parse(
            self._read(f"SELECT body FROM samples WHERE seq <= ({_TRAINED}) ORDER BY seq")
        )

    def retain(self, seq: int, keep: Collection[str]) -> int:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("CREATE TEMP TABLE IF NOT EXISTS keep (id TEXT PRIMARY KEY)")
                self._db.execute("DELETE FROM keep")
                self._db.executemany("INSERT OR IGNORE INTO keep VALUES (?)", [(k,) for k in keep])
                cursor = self._db.execute(
                    "DELETE FROM samples WHERE seq <= ? "
                    "AND message_id NOT IN (SELECT id FROM keep)",
                    (seq,),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise SampleStoreError(f"sample store write failed: {exc}") from exc
        return cursor.rowcount

    def high_water(self) -> int:
        ((seq,),) = self._read("SELECT COALESCE(MAX(seq), 0) FROM samples")
        assert isinstance(seq, int)
        return seq

    def count(self) -> int:
        ((n,),) = self._read("SELECT COUNT(*) FROM samples")
        assert isinstance(n, int)
        return n

    def new_count(self) -> int:
        ((n,),) = self._read(f"SELECT COUNT(*) FROM samples WHERE seq > ({_TRAINED})")
        assert isinstance(n, int)
        return n

    def trained_seq(self) -> int:
        rows = self._read("SELECT value FROM state WHERE key = 'trained_seq'")
        value = rows[0][0] if rows else 0
        assert isinstance(value, int)
        return value

    def mark_trained(self, seq: int) -> None:
        self._write(
            "INSERT INTO state (key, value) VALUES ('trained_seq', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
            [(seq,)],
        )

    def add_command(self, command: Redistill) -> bool:
        sql = "INSERT OR IGNORE INTO commands (command_id, body) VALUES (?, ?)"
        return self._write(sql, [(command.command_id, command.to_bytes())]) == 1

    def pending_commands(self) -> list[Redistill]:
        rows = self._read("SELECT body FROM commands WHERE done = 0 ORDER BY accepted, rowid")
        out = []
        for (body,) in rows:
            assert isinstance(body, bytes)
            command = parse_ops_command(body)
            if isinstance(command, Redistill):
                out.append(command)
        return out

    def finish_command(self, command_id: str) -> None:
        self._write("UPDATE commands SET done = 1 WHERE command_id = ?", [(command_id,)])

    def close(self) -> None:
        with self._lock:
            self._db.close()
