"""The chain watcher's fetch thread: range N+1 is fetched while range N is committed.

A backfill range costs a wait on the node (``eth_getLogs`` and the block-hash batch), JSON
parsing, decoding into rows, and the insert + commit. Done one after the other on the actor
thread, the node and the database take turns idling. :class:`RangeFetcher` owns ONE helper
thread (a one-worker executor) that fetches range N+1 (requests, JSON) while the actor
thread decodes, inserts and commits range N. (Decoding on the helper was measured slower:
the helper would then wait on the node and decode in turn, and the node's time is the part
that overlaps best.) The SQLite/PostgreSQL inserts run without the GIL
(:func:`actors.evm.ingest.insert_events`).

Rules that keep the watcher's guarantees (see ``actors/chain_watcher.py``):

- The worker only calls the RPC client and pure functions; it never touches the store nor
  the actor's state. Everything it learns comes back in a :class:`Fetched` value and the
  actor thread does the bookkeeping (cursor, adaptive range) from it.
- Every RPC call of the watcher goes through the worker (:meth:`RangeFetcher.call`), in
  submission order, so the RPC client (not thread-safe) is only ever used by one thread.
- A prefetched range is used only if it starts right after the cursor and the hash it
  fetched for its parent block (the cursor block) is the one just committed; otherwise it
  is dropped and the watcher goes through its normal reorg check. The cursor still moves
  only in the actor's one-transaction commit, so a crash mid-batch loses at most the
  prefetch (re-fetched after the restart), never a block.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .ingest import _int
from .rpc import RpcClient, RpcError, RpcUnavailable

__all__ = ["Fetched", "RangeFetcher", "Retry"]

_TOO_MUCH = re.compile(r"too many|more than|limit|exceed|too large|response size|range",
                       re.IGNORECASE)


class Retry(Exception):
    """Try this range again (the chain moved under the query)."""


@dataclass
class Fetched:
    """One range as the worker saw it. ``hi`` may be below the asked ``hi`` (the range was
    halved ``shrinks`` times on size errors/timeouts); ``error`` is set (and raised by the
    actor after it applied ``shrinks``) when the range could not be fetched."""

    lo: int
    asked_hi: int
    parent: int | None              # block whose hash was fetched to chain onto the cursor
    hi: int = 0
    logs: list[dict] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)  # blocks with logs, hi, parent
    blocks: list[int] = field(default_factory=list)        # hashes to store: logs' + hi
    shrinks: int = 0
    error: BaseException | None = None


def fetch_range(rpc: RpcClient, addresses: list[str], topics: list, lo: int, hi: int,
                parent: int | None) -> Fetched:
    """Logs of [lo, hi'] (hi' <= hi) and the hashes of their blocks, fetched after them."""
    got = Fetched(lo, hi, parent)
    try:
        while True:
            try:
                logs = rpc.call("eth_getLogs", [{"fromBlock": hex(lo), "toBlock": hex(hi),
                                                 "address": addresses, "topics": topics}])
                break
            except RpcError as exc:
                if not _TOO_MUCH.search(exc.message) or hi == lo:
                    raise
            except RpcUnavailable as exc:
                if not exc.timed_out or hi == lo:
                    raise
            got.shrinks += 1
            hi = lo + max((hi - lo + 1) // 2, 1) - 1
        numbers = sorted({_int(lg["blockNumber"]) for lg in logs} | {hi})
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        if parent is not None:
            calls.append(("eth_getBlockByNumber", [hex(parent), False]))
        headers = rpc.batch(calls)
        if any(h is None for h in headers):
            raise Retry(f"blocks {lo}..{hi} not available yet")
        hashes = {_int(h["number"]): h["hash"].lower() for h in headers}
        for lg in logs:
            if lg["blockHash"].lower() != hashes[_int(lg["blockNumber"])]:
                raise Retry(f"block {_int(lg['blockNumber'])} changed during the query")
    except (RpcError, RpcUnavailable, Retry) as exc:
        got.error = exc
        return got
    got.hi, got.logs, got.hashes, got.blocks = hi, logs, hashes, numbers
    return got


class RangeFetcher:
    """The worker thread and at most one range fetched ahead. Used by one actor only."""

    def __init__(self, rpc: RpcClient, addresses: list[str], topics: list, name: str) -> None:
        self.rpc, self.addresses, self.topics = rpc, addresses, topics
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}:fetch")
        self._ahead: Future | None = None
        self._ahead_key: tuple[int, int, int | None] = (0, 0, None)
        self.prefetched = 0   # ranges taken from a prefetch (status/tests)

    # ---- RPC through the worker ---------------------------------------------------------
    def call(self, method: str, params: list[Any] | tuple = ()) -> Any:
        return self._pool.submit(self.rpc.call, method, params).result()

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        return self._pool.submit(self.rpc.batch, calls).result()

    # ---- ranges -------------------------------------------------------------------------
    def prefetch(self, lo: int, hi: int, parent: int | None) -> None:
        """Start fetching [lo, hi]; returns once the worker runs it. Without that wait the
        caller, busy decoding, would keep the GIL and the request would leave only at the
        next forced GIL switch (5 ms later, every range)."""
        self.drop()
        started = threading.Event()

        def run() -> Fetched:
            started.set()
            return fetch_range(self.rpc, self.addresses, self.topics, lo, hi, parent)
        self._ahead_key = (lo, hi, parent)
        self._ahead = self._pool.submit(run)
        started.wait(1.0)   # bounded: the worker may still be busy with a previous call

    def take(self, lo: int, hi: int, parent: int | None) -> Fetched:
        """[lo, <= hi]: the prefetched range if it is that one, else fetched now."""
        ahead, (a_lo, a_hi, a_parent) = self._ahead, self._ahead_key
        self._ahead = None
        if ahead is not None and a_lo == lo and a_hi <= hi and a_parent == parent:
            self.prefetched += 1
            return ahead.result()
        if ahead is not None:
            ahead.cancel()
        return self._pool.submit(fetch_range, self.rpc, self.addresses, self.topics,
                                 lo, hi, parent).result()

    def drop(self) -> None:
        """Forget the range fetched ahead (a reorg, an error, a lost lease)."""
        if self._ahead is not None:
            self._ahead.cancel()
            self._ahead = None

    def close(self) -> None:
        """Stop the worker without waiting for an RPC in flight (it is only a read)."""
        self._ahead = None
        self._pool.shutdown(wait=False, cancel_futures=True)
