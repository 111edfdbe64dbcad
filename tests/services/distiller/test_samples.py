"""The sample store: idempotent by message id, a durable cursor, commands accepted once."""

from __future__ import annotations

import time

import pytest

from contract.schemas import Redistill
from services.distiller.samples import MemorySampleStore, SampleStore, SqliteSampleStore
from tests.services.distiller.factories import labeled

LABELS = ("运输中", "已签收", "延误")
PAIRS = [(f"包裹{i}号运输中", "运输中") for i in range(5)]


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request, tmp_path):
    def make() -> SampleStore:
        if request.param == "memory":
            return MemorySampleStore()
        return SqliteSampleStore(tmp_path / "samples.sqlite3")

    return make


def redistill(command_id: str) -> Redistill:
    return Redistill(command_id=command_id, issued_by="ops", ts=time.time(), max_steps=5)


def test_add_ignores_known_message_ids(store_factory):
    store = store_factory()
    samples = labeled(PAIRS, LABELS)
    assert store.add(samples[:3]) == 3
    assert store.add(samples) == 2  # the first three are redeliveries
    assert store.add(samples[1:2] + samples[1:2]) == 0
    assert [s.message_id for s in store.recent(10)] == [s.message_id for s in samples]
    assert [s.message_id for s in store.recent(2)] == [s.message_id for s in samples[3:]]
    assert store.count() == 5 and store.new_count() == 5


def test_new_count_follows_the_trained_cursor(store_factory):
    store = store_factory()
    store.add(labeled(PAIRS[:3], LABELS))
    assert store.new_count() == 3
    store.mark_trained(store.high_water())
    assert store.new_count() == 0
    store.add(labeled(PAIRS, LABELS, prefix="x"))
    assert store.new_count() == 5
    cursor = store.trained_seq()
    store.mark_trained(1)  # an older cursor never moves it back
    assert store.trained_seq() == cursor


def test_commands_are_accepted_once_and_finished(store_factory):
    store = store_factory()
    assert store.add_command(redistill("c-1"))
    assert store.add_command(redistill("c-2"))
    assert not store.add_command(redistill("c-1"))
    assert [c.command_id for c in store.pending_commands()] == ["c-1", "c-2"]
    store.finish_command("c-1")
    assert not store.add_command(redistill("c-1"))  # done ids stay known
    assert [c.command_id for c in store.pending_commands()] == ["c-2"]


def test_sqlite_store_survives_a_reopen(tmp_path):
    path = tmp_path / "samples.sqlite3"
    store = SqliteSampleStore(path)
    samples = labeled(PAIRS, LABELS)
    store.add(samples)
    store.mark_trained(2)
    store.add_command(redistill("c-1"))
    store.close()
    again = SqliteSampleStore(path)
    assert again.count() == 5 and again.new_count() == 3
    assert again.add(labeled(PAIRS, LABELS)) == 0
    assert [c.command_id for c in again.pending_commands()] == ["c-1"]
    assert again.recent(1)[0] == samples[-1]


def test_new_samples_memory_and_retain(store_factory):
    store = store_factory()
    first = labeled(PAIRS, LABELS)
    store.add(first)
    assert [s.message_id for s in store.new_samples(10)] == [s.message_id for s in first]
    assert [s.message_id for s in store.new_samples(2)] == [s.message_id for s in first[3:]]
    assert store.memory() == []
    high = store.high_water()
    store.mark_trained(high)
    later = labeled(PAIRS[:2], LABELS, prefix="x")
    store.add(later)
    assert [s.message_id for s in store.memory()] == [s.message_id for s in first]
    assert [s.message_id for s in store.new_samples(10)] == [s.message_id for s in later]
    # the memory is cut to two samples; newer samples are never touched
    assert store.retain(high, {first[1].message_id, first[4].message_id, "unknown"}) == 3
    assert [s.message_id for s in store.memory()] == [first[1].message_id, first[4].message_id]
    assert store.count() == 4 and store.new_count() == 2
    assert store.high_water() >= high + 2  # sequence numbers are never reused
