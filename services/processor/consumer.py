"""faust's Kafka consumer with one invariant added: never commit past a record it did not
process, and go back for any record it skipped.

Why this exists (written by hand because faust-streaming 0.15 has no switch for it): while a
restarted worker recovers its tables, faust's fetcher can hand over a batch fetched before
its seek to the committed offsets, so the drain loop sees offsets jump (e.g. 18 -> 20) and
records 18..19 never reach the agent. faust then treats the jump as a legitimate gap
(compaction, transaction markers) and marks the skipped offsets as acknowledged, and its
guard against a hole at the head of the acked offsets is off by one
(``min(acked) - committed > 1``), so the commit moves past the skipped record and it is lost
(``benchmarks/processor_restart_loss.py`` reproduced about one lost record in three
restarts).

The processor's source topics are plain ``delete``-policy topics written without
transactions: their offsets have no gaps, so for those topics this consumer

1. records no gaps: a jump means skipped records, not missing ones;
2. commits only a run of processed offsets that starts at the committed offset;
3. when the lowest processed offset is above the committed one (a hole), seeks the
   partition back to the committed offset so the skipped records are fetched again. The
   records after them arrive twice; downstream is idempotent by message id (the ``seen``
   table), so that costs work, not correctness. The seek runs in the consumer's thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

log = logging.getLogger(__name__)
RESEEK_EVERY_S = 1.0  # at most one seek back per partition per this many seconds


class GaplessConsumer(faust_aiokafka.Consumer):
    #: topics whose offsets have no gaps (set by :func:`install`)
    gapless_topics: ClassVar[frozenset[str]] = frozenset()
    #: each called with (partition, committed offset, lowest processed offset) per seek back
    reseek_hooks: ClassVar[tuple[Callable[[TP, int, int], None], ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_reseek: dict[TP, float] = {}
        self._reseeks: set[asyncio.Future[None]] = set()  # running seeks (kept referenced)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if tp.topic in self.gapless_topics:
            return  # 1. a jump on a gapless topic is skipped records: keep them unacked
        await super()._add_gap(tp, offset_from, offset_to)

    def _new_offset(self, tp: TP) -> int | None:
        if tp.topic in self.gapless_topics:
            acked, committed = self._acked[tp], self._committed_offset[tp]
            if acked and committed is not None and min(acked) > committed:
                # 2. a hole at the head: commit nothing, 3. fetch the hole again
                self._reseek(tp, committed, min(acked))
                return None
        return super()._new_offset(tp)

    def _reseek(self, tp: TP, committed: int, lowest: int) -> None:
        now = time.monotonic()
        if now - self._last_reseek.get(tp, 0.0) < RESEEK_EVERY_S:
            return
        self._last_reseek[tp] = now
        log.warning(
            "%s[%d]: offsets %d..%d were skipped, not processed; seeking back to %d",
            tp.topic, tp.partition, committed, lowest - 1, committed,
        )  # fmt: skip
        for hook in self.reseek_hooks:
            hook(tp, committed, lowest)
        task = asyncio.ensure_future(self._seek_back(tp, committed))
        self._reseeks.add(task)
        task.add_done_callback(self._reseeks.discard)

    async def _seek_back(self, tp: TP, offset: int) -> None:
        try:
            # in the consumer's own thread: faust's ``seek`` calls aiokafka's from this one,
            # while its fetcher runs in that thread, and a seek that lands while
            # ``fetched_records`` walks its buffers raised KeyError there and crashed the
            # fetcher (the chaos run, benchmarks/chaos.py, found it after a Kafka restart)
            await self.seek_wait({tp: offset})
        except Exception as exc:  # revoked meanwhile, or the broker is away: next commit retries
            self._last_reseek.pop(tp, None)
            log.warning("seeking %s[%d] back to %d failed: %r", tp.topic, tp.partition, offset, exc)


def transport_class(
    topics: frozenset[str], on_reseek: Callable[[TP, int, int], None] | None = None
) -> type[faust_aiokafka.Transport]:
    """A faust Kafka transport whose consumer keeps the invariant above for ``topics``."""
    hooks = (on_reseek,) if on_reseek is not None else ()
    consumer = type(
        "GaplessConsumer", (GaplessConsumer,), {"gapless_topics": topics, "reseek_hooks": hooks}
    )
    return type("GaplessTransport", (faust_aiokafka.Transport,), {"Consumer": consumer})
