"""The chain watcher's pipeline: ranges ahead are fetched while one is decoded and the
one before it committed.

A backfill range costs waits on the node (``eth_getLogs`` and two header fetches), JSON
parsing, decoding into rows, and the insert + commit. Done one after the other on the actor
thread, the node and the database take turns idling. So the work runs in three stages:
:class:`RangeFetcher` owns two fetch threads that fetch up to two ranges ahead; the actor
thread parses and decodes; :class:`Committer` inserts and commits. The fetch threads only
do I/O: they hand the ``eth_getLogs`` reply over as bytes (:meth:`Fetched.logs` parses it
on the actor thread), because threads running Python take turns on the GIL, and the
node's time is the part that overlaps with Python best. The SQLite/PostgreSQL inserts run
without the GIL (:func:`chains.evm.ingest.insert_events`).

Consistency without fetching every block: the header of the range's last block ``hi`` is
fetched before ``eth_getLogs`` and again after it (with the parent, the cursor block). A
hash of ``hi`` commits to every block below it, so when both agree the logs came from that
one chain, and each log's own ``blockHash`` is the block's hash to remember (the reorg
window). When they differ a reorg raced the query and the range is fetched again. (The
earlier way, one header per block with logs, cost a header per such block: 5 per range on
dense blocks, up to a whole range's worth on a sparse chain.)

At most one commit is in flight, and the actor waits for it before it submits the next,
so commits stay in block order and a failed one stops everything after it.

Rules that keep the watcher's guarantees (see ``actors/chain_watcher.py``):

- The fetch threads only call the RPC client and pure functions; they never touch the
  store nor the actor's state. Everything it learns comes back in a :class:`Fetched` value and the
  actor thread does the bookkeeping (cursor, adaptive range) from it.
- Every RPC call of the watcher goes through the fetch threads (:meth:`RangeFetcher.call`);
  the RPC client keeps its endpoint bookkeeping under a lock.
- The committer runs one transaction per range (events, block hashes, cursor, lease) and
  only that; the actor learns the outcome from :meth:`Committer.wait` and moves its
  committed position then. A range decoded but not yet committed is forgotten on any
  error, and the watcher goes back to the committed position.
- A prefetched range is used only if it starts right after the range before it and the
  hash it fetched for its parent block is that range's last hash; otherwise the queue is
  dropped and the watcher goes through its normal reorg check. The committed position
  moves only with a one-transaction commit, so a crash mid-batch loses at most the ranges
  fetched or decoded ahead (fetched again after the restart), never a block.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import peewee

from .ingest import Log, decode_logs, insert_events
from .models import ChainBlock, ChainCursor
from .rpc import RpcClient, RpcError, RpcUnavailable

__all__ = ["Committer", "Fetched", "LeaseLost", "RangeFetcher", "Retry", "commit_range"]

_TOO_MUCH = re.compile(r"too many|more than|limit|exceed|too large|response size|range",
                       re.IGNORECASE)


class Retry(Exception):
    """Try this range again (the chain moved under the query)."""


class LeaseLost(Retry):
    """Another node holds the chain's lease: the commit rolled back; stand by."""


@dataclass
class Fetched:
    """One range as the worker saw it. ``hi`` may be below the asked ``hi`` (the range was
    halved ``shrinks`` times on size errors/timeouts); ``error`` is set (and raised by the
    actor after it applied ``shrinks``) when the range could not be fetched."""

    lo: int
    asked_hi: int
    parent: int | None              # block whose hash was fetched to chain onto the cursor
    hi: int = 0
    body: bytes = b""               # the eth_getLogs reply, unparsed (see logs())
    hashes: dict[int, str] = field(default_factory=dict)  # hi and parent; logs() adds more
    shrinks: int = 0
    error: BaseException | None = None

    def logs(self) -> list[Log]:
        """The logs of the reply, parsed and type-checked (actor thread; RpcError if it is
        not a list of logs). :meth:`check` then vets the rows made of them."""
        return decode_logs(self.body)

    def check(self, rows: list[tuple]) -> None:
        """Record the hash of each block with events (from the rows: block number and hash
        come parsed and lowercased). RpcError for an event outside [lo, hi]; Retry if two
        events of one block disagree on its hash, or one of ``hi`` on the hash fetched
        around the logs."""
        hashes, lo, hi = self.hashes, self.lo, self.hi
        for row in rows:
            n, h = row[1], row[2]
            if not lo <= n <= hi:
                raise RpcError(f"eth_getLogs: a log of block {n} outside {lo}..{hi}")
            if hashes.setdefault(n, h) != h:
                raise Retry(f"block {n} changed during the query")

    def blocks(self) -> list[int]:
        """Blocks whose hashes the actor stores: those with events and ``hi`` (after check())."""
        return sorted(n for n in self.hashes if n != self.parent)


def _header_hash(header: Any, number: int) -> str:
    if not isinstance(header, dict) or not isinstance(header.get("hash"), str):
        raise Retry(f"block {number} not available yet")
    return header["hash"].lower()


def fetch_range(rpc: RpcClient, addresses: list[str], topics: list, lo: int, hi: int,
                parent: int | None) -> Fetched:
    """The raw logs of [lo, hi'] (hi' <= hi), between two fetches of the header of hi'."""
    got = Fetched(lo, hi, parent)
    try:
        while True:
            before = _header_hash(rpc.call("eth_getBlockByNumber", [hex(hi), False]), hi)
            try:
                body = rpc.call_raw("eth_getLogs", [{"fromBlock": hex(lo), "toBlock": hex(hi),
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
        numbers = [hi] if parent is None else [hi, parent]
        headers = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        hashes = {n: _header_hash(h, n) for n, h in zip(numbers, headers)}
        if hashes[hi] != before:
            raise Retry(f"block {hi} changed during the query")
    except (RpcError, RpcUnavailable, Retry) as exc:
        got.error = exc
        return got
    got.hi, got.body, got.hashes = hi, body, hashes
    return got


class RangeFetcher:
    """The fetch threads and up to ``depth`` ranges fetched ahead. Used by one actor only.

    Two ranges are fetched at once by default: one range costs three round trips in a row
    (header, logs, headers), each also waiting for the GIL while the actor thread parses,
    so a single fetch thread was the slowest stage of the pipeline (measured ~35 ms per
    2,000-log range against ~20 ms of work at the node)."""

    def __init__(self, rpc: RpcClient, addresses: list[str], topics: list, name: str,
                 depth: int = 2) -> None:
        self.rpc, self.addresses, self.topics = rpc, addresses, topics
        self.depth = depth
        self._pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix=f"{name}:fetch")
        self._ahead: deque[tuple[tuple[int, int, int | None], Future]] = deque()
        self.prefetched = 0   # ranges taken from a prefetch (status/tests)

    # ---- RPC through the workers --------------------------------------------------------
    def call(self, method: str, params: list[Any] | tuple = ()) -> Any:
        return self._pool.submit(self.rpc.call, method, params).result()

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        return self._pool.submit(self.rpc.batch, calls).result()

    # ---- ranges -------------------------------------------------------------------------
    def fill(self, after: int, target: int, size: int, parent: int | None) -> None:
        """Keep ``depth`` ranges of ``size`` blocks queued after block ``after`` (up to
        ``target``); ranges already queued stay (their size may be an older one). The
        first range chains onto ``parent`` (None: nothing to chain onto yet), each later
        one onto the range before it."""
        nxt = self._ahead[-1][0][1] + 1 if self._ahead else after + 1
        while len(self._ahead) < self.depth and nxt <= target:
            hi = min(target, nxt + size - 1)
            self.prefetch(nxt, hi, parent if nxt == after + 1 else nxt - 1)
            nxt = hi + 1

    def prefetch(self, lo: int, hi: int, parent: int | None) -> None:
        """Queue [lo, hi]; returns once a worker runs it. Without that wait the caller,
        busy decoding, would keep the GIL and the request would leave only at the next
        forced GIL switch (5 ms later, every range)."""
        started = threading.Event()

        def run() -> Fetched:
            started.set()
            return fetch_range(self.rpc, self.addresses, self.topics, lo, hi, parent)
        self._ahead.append(((lo, hi, parent), self._pool.submit(run)))
        started.wait(0.1)   # bounded: both workers may still be busy with earlier ranges

    def take(self, lo: int, hi: int, parent: int | None) -> Fetched:
        """The range from ``lo``: the first queued one if it starts there and chains onto
        ``parent`` (its end may differ from ``hi``: it was sized when it was queued, and
        it is fetched already), else [lo, <= hi] fetched now (and the queue, planned after
        something else, is dropped)."""
        if self._ahead:
            (a_lo, _, a_parent), ahead = self._ahead[0]
            if a_lo == lo and a_parent == parent:
                self._ahead.popleft()
                self.prefetched += 1
                return ahead.result()
            self.drop()
        return self._pool.submit(fetch_range, self.rpc, self.addresses, self.topics,
                                 lo, hi, parent).result()

    def drop(self) -> None:
        """Forget the ranges fetched ahead (a reorg, an error, a lost lease)."""
        while self._ahead:
            self._ahead.popleft()[1].cancel()

    def close(self) -> None:
        """Stop the workers without waiting for an RPC in flight (it is only a read)."""
        self._ahead.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


class Committer:
    """The commit thread and at most one commit in flight. Used by one actor only.

    ``setup``/``teardown`` run on the thread itself (a SQLite connection belongs to the
    thread that opened it: the watcher holds one there for the committer's life)."""

    def __init__(self, name: str, setup: Any = None, teardown: Any = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}:commit")
        self._pending: Future | None = None
        self._teardown = teardown
        if setup is not None:
            self._pool.submit(setup).result()

    def submit(self, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` on the commit thread; the previous commit must be waited for."""
        if self._pending is not None:
            raise RuntimeError("a commit is already in flight")
        self._pending = self._pool.submit(fn, *args)

    def wait(self) -> Any:
        """The result of the commit in flight (None if none); its exception is raised here."""
        pending, self._pending = self._pending, None
        return None if pending is None else pending.result()

    def close(self) -> None:
        """Let a commit in flight finish (it is one transaction either way), then stop."""
        if self._teardown is not None:
            self._pool.submit(self._teardown)
        self._pool.shutdown(wait=True)


def commit_range(store: Any, chain: str, lease: str, lease_ttl: float, hi: int, hi_hash: str,
                 rows: list[tuple], blocks: list[dict], head: int, prune: int | None) -> None:
    """The commit stage's ONE transaction for a range: the lease renewed (fencing: a node
    that lost it rolls back, :class:`LeaseLost`), the block hashes (pruned at or below
    ``prune`` when given), the cursor at ``hi`` and the events. The events go last: on
    PostgreSQL ``insert_events`` takes the commit-order lock, held until the commit, and
    every other chain's commit waits for it (docs/chain-watcher.md "Commit order"); last,
    the lock covers only the COPY and the commit."""
    now = time.time()
    with store.atomic() as db:
        if store.is_postgres:
            # No wait for the WAL flush: a range lost in a server crash is lost with its
            # cursor (one transaction) and indexed again. And nothing that read it can
            # outlive it: the WAL is flushed in order, so the book's own (synchronous)
            # commit flushes this one first.
            db.execute_sql("SET LOCAL synchronous_commit TO OFF")
        if not store.acquire_lease(lease, lease_ttl):
            raise LeaseLost("lease lost to another node; standing by")   # rolls back
        for i in range(0, len(blocks), 500):
            (ChainBlock.insert_many(blocks[i:i + 500])
             .on_conflict(conflict_target=[ChainBlock.chain, ChainBlock.number],
                          update={ChainBlock.hash: peewee.EXCLUDED.hash}).execute())
        if prune is not None:
            ChainBlock.delete().where((ChainBlock.chain == chain) &
                                      (ChainBlock.number <= prune)).execute()
        (ChainCursor.insert(chain=chain, block_number=hi, block_hash=hi_hash, head=head,
                            updated_at=now)
         .on_conflict(conflict_target=[ChainCursor.chain],
                      update={ChainCursor.block_number: hi, ChainCursor.block_hash: hi_hash,
                              ChainCursor.head: head, ChainCursor.updated_at: now}).execute())
        insert_events(db, rows)
