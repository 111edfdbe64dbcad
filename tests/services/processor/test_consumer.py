"""The consumer's no-skip invariant on faust's own bookkeeping (no broker: the consumer is
built but never started; each test builds it inside its own event loop, which it closes)."""

import asyncio

import faust
import pytest
from faust.types import TP

from services.processor.consumer import transport_class

SOURCE, OTHER = "fleet.predictions", "compacted.changelog"


@pytest.fixture
def consumer_factory():
    apps = []

    def make(hooks: list):
        app = faust.App("consumer-test", broker="kafka://127.0.0.1:1", web_enabled=False)
        app.transport = transport_class(
            frozenset({SOURCE}), on_reseek=lambda *args: hooks.append(args)
        )(app.conf.broker_consumer, app)
        consumer = app.consumer
        apps.append(consumer)
        seeks: list = []

        async def seek_wait(partitions):  # faust runs it in the consumer's thread
            seeks.extend(partitions.items())

        async def seek(tp, offset):  # aiokafka's seek from the caller's thread: a race
            seeks.append(("from the wrong thread", tp, offset))

        consumer.seek_wait, consumer.seek = seek_wait, seek
        return consumer, seeks

    yield make
    for consumer in apps:
        consumer._thread.thread_loop.close()  # made for the consumer thread, never started


def test_a_hole_at_the_head_is_never_committed_and_is_fetched_again(consumer_factory):
    hooks: list = []
    tp = TP(SOURCE, 1)

    async def run():
        consumer, seeks = consumer_factory(hooks)
        consumer._committed_offset[tp] = 18
        await consumer._add_gap(tp, 19, 20)  # the drain saw 18 -> 21: not a gap here
        assert not consumer._gap[tp]
        consumer._acked[tp].extend([19, 20, 21])  # 18 was skipped, never processed
        assert consumer._new_offset(tp) is None  # faust itself would commit 22
        assert consumer._new_offset(tp) is None  # and again: one seek per second at most
        await asyncio.sleep(0)
        assert seeks == [(tp, 18)]  # through the consumer's thread, never from this one
        assert hooks == [(tp, 18, 19)]
        consumer._acked[tp].insert(0, 18)  # refetched and processed
        assert consumer._new_offset(tp) == 22

    asyncio.run(run())


def test_other_topics_keep_fausts_gap_handling(consumer_factory):
    tp = TP(OTHER, 0)

    async def run():
        consumer, seeks = consumer_factory([])
        consumer._committed_offset[tp] = 10
        await consumer._add_gap(tp, 11, 13)  # compaction removed 11..13
        consumer._acked[tp].extend([10, 14])
        assert consumer._new_offset(tp) == 15
        assert seeks == []

    asyncio.run(run())


def test_a_contiguous_run_commits_as_before(consumer_factory):
    tp = TP(SOURCE, 0)

    async def run():
        consumer, seeks = consumer_factory([])
        consumer._committed_offset[tp] = 5
        consumer._acked[tp].extend([5, 6, 7, 9])
        assert consumer._new_offset(tp) == 8  # stops at the hole at 8
        assert seeks == []

    asyncio.run(run())


def test_a_worker_whose_stop_hangs_exits_and_a_clean_exit_does_not_wait():
    import subprocess
    import sys

    start = "from services.processor.cli import exit_if_stuck as e; import time; "
    hang = start + "e(0.2); time.sleep(600)"
    stuck = subprocess.run([sys.executable, "-c", hang], capture_output=True, timeout=300)
    assert stuck.returncode == 1 and b"stop hung" in stuck.stderr
    clean = start + "e(600)"
    assert subprocess.run([sys.executable, "-c", clean], timeout=300).returncode == 0
