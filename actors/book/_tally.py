"""Submissions by the gRPC code they were answered with, counted durably per hour.

The analytics' GetSummary reports submissions and refusals by code over any period; a
refused order leaves no intent row, and the Prometheus counters start from zero with each
node, so the intent service counts here (and here only: the same call also adds to the
node's ``orbital_intent_submissions_total{code}``). Counts gather in memory on the server's loop and
are added to ``submission_count`` at most once a second (one upsert per (hour, code)), and
at the server's stop: a flood of refused calls costs the database one small write a
second, never one per call. A crash loses at most the last second's counts; a write that
fails (store down) keeps them and tries again a second later.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from ._models import SubmissionCount

__all__ = ["SubmissionTally", "FLUSH_SECONDS"]

log = logging.getLogger("orbital.book")

FLUSH_SECONDS = 1.0


class SubmissionTally:
    """Counts of one node's submissions; ``count`` is called on the server's loop."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, str], int] = {}
        self._scheduled = False
        self._hooked = False
        self._counter = node.metrics.counter(
            "orbital_intent_submissions_total",
            "Orders submitted to this node, by the gRPC code each was answered with (OK: "
            "accepted; any other: refused); one per order of a batch", ("code",))

    def count(self, code: str, n: int = 1) -> None:
        if n <= 0:
            return
        self._counter.labels(code).inc(n)
        hour = int(self.node.clock.wall()) // 3600 * 3600
        with self._lock:
            self._pending[(hour, code)] = self._pending.get((hour, code), 0) + n
        self._arm()

    def _arm(self) -> None:
        """A flush in FLUSH_SECONDS unless one is due (on the server's loop)."""
        server = self.node.grpc
        if server is None:
            return
        if not self._hooked:
            self._hooked = True
            server.at_stop(self.flush)
        if not self._scheduled:
            self._scheduled = True
            server.loop.call_later(FLUSH_SECONDS, self._flush_later)

    def _flush_later(self) -> None:
        self._scheduled = False
        asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        """Add the pending counts to the table (off the loop)."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if batch:
            await self.node.grpc.call(self._write, batch)

    def _write(self, batch: dict[tuple[int, str], int]) -> None:
        try:
            with self.node.store.connection() as db, db.atomic():
                for (hour, code), n in sorted(batch.items()):
                    (SubmissionCount.insert(hour=hour, code=code, count=n)
                     .on_conflict(conflict_target=[SubmissionCount.hour, SubmissionCount.code],
                                  update={SubmissionCount.count: SubmissionCount.count + n})
                     .execute())
        except Exception as exc:  # noqa: BLE001 - kept for the next flush, never lost here
            log.warning("submission counts not written; kept, retried in a second",
                        extra={"error": repr(exc)[:200]})
            with self._lock:
                for key, n in batch.items():
                    self._pending[key] = self._pending.get(key, 0) + n
            self.node.grpc.loop.call_soon_threadsafe(self._arm)   # and try again
