"""``chains/watcher/<name>``: one reorg-safe log indexer per configured EVM chain.

Each tick (:meth:`runtime.Actor.run_tick`; a tick that ran out of budget asks for the
next one at once):

1. head via ``eth_blockNumber`` (RPC failover in :mod:`chains.evm.rpc`); target is
   ``head - confirmations``;
2. reorg check: the stored hash of the cursor block is compared with the chain's; on a
   mismatch the fork point is the highest stored recent block whose hash still matches;
   events and blocks above it are deleted, the cursor rewinds, a ``chain_reorg`` row is
   written (all in one transaction) and ``intents/book`` is told :class:`ChainReorged`;
3. backfill from ``cursor + 1`` with raw ``eth_getLogs`` (settler/bridge addresses, known
   topics) over an adaptive range: one block after a start, doubled per range while under
   ``range_logs`` logs, sized to ~``range_logs`` logs on dense blocks, halved on "too many
   results"/size errors and timeouts (then doubled again after a few calm ranges); the
   header of the range's last block is fetched before and after the logs (with the parent,
   the cursor block): both must agree with each other, the logs and the cursor (else the
   range is retried: a reorg raced the query); logs are decoded by :mod:`chains.evm.ingest`;
4. events, recent block hashes and the cursor go in ONE transaction (batched inserts);
   only then is ``intents/book`` told :class:`ChainEventsCommitted`.

The work is a three-stage pipeline (:mod:`chains.evm.pipeline`): two fetch threads get
the ranges ahead (every RPC call goes through them), this thread parses and decodes range
N+1, and the commit thread commits range N. A fetched range is used only if it chains onto the
hash of the range before it; a range is submitted for commit only after the previous
commit succeeded; on any error the watcher goes back to its committed position
(``indexed``), so nothing is skipped and nothing is committed out of order.

The store is the source of truth: notifications are best effort (``ActorUnavailable``
is ignored); the book catches up by reading ``chain_event`` from its own last position.
An RPC outage never skips a block: the cursor only moves after a successful commit, and
the next tick starts again from it. A restart (or crash) resumes from the persisted cursor.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chains.evm import RpcClient, RpcError, RpcUnavailable
from chains.evm.config import WatcherSpec
from chains.evm.ingest import event_rows, hex_int
from chains.evm.models import ChainBlock, ChainCursor, ChainEvent, ChainReorg
from chains.evm.pipeline import Committer, LeaseLost, RangeFetcher, Retry, commit_range
from protocol.events import EVENTS_BY_TOPIC
from runtime import Actor

from ._messages import ChainEventsCommitted, ChainReorged, WatcherStatus
from ._wake import wake_book

__all__ = ["ChainWatcher"]

log = logging.getLogger("orbital.chain_watcher")


class ChainWatcher(Actor):
    kind = "chain_watcher"
    # The position: ``cursor`` is where indexing has got to (ranges may be in the commit
    # thread), ``indexed`` what is committed; each with its block's hash ("" before any).
    cursor: int
    cursor_hash: str
    indexed: int
    indexed_hash: str
    tick_budget_s = 0.5        # work per tick before yielding the mailbox
    grow_after = 3             # calm ranges before the range doubles again (after a shrink)
    range_logs = 2000          # logs per range the adaptive range aims at

    def setup(self) -> None:
        spec: WatcherSpec = self.config
        self.name, self.chain = spec.name, spec.chain
        self.store = self.ctx.services.store
        # SQLite: this thread keeps its connection for the actor's life. Opening one per
        # unit of work re-runs the pragmas, and closing the last connection of a WAL
        # database checkpoints and deletes the WAL, ~30 ms after a 10k-event commit.
        # (PostgreSQL connections stay pooled per unit of work.)
        if not self.store.is_postgres:
            self.resources.enter_context(self.store.connection())
        self.rpc = self.own(RpcClient(self.chain.rpc, timeout=self.chain.rpc_timeout,
                                      backoff_max=self.chain.rpc_backoff_max))
        self.addresses = [a.lower() for a in self.chain.contracts.addresses()]
        self.topics = [sorted(EVENTS_BY_TOPIC)]
        # the fetch threads (chains/evm/pipeline.py): every RPC call goes through them
        self.fetcher = self.own(RangeFetcher(self.rpc, self.addresses, self.topics, self.path))
        self.lease = f"chain:{self.name}"
        self.leader = False
        self.resources.callback(self._release_lease)
        # the commit thread; on SQLite it keeps its own connection (see above). Closed
        # first: a commit in flight renews the lease that is released next.
        sqlite = not self.store.is_postgres
        self.committer = self.own(Committer(self.path, self.store.hold if sqlite else None,
                                            self.store.release if sqlite else None))
        # slow start: the first range is one block (min_range) and doubles per range while
        # ranges stay under range_logs, so the first commit lands at once and the fetch
        # thread has a next range to fetch while this one commits (a single max_range
        # range of dense blocks would leave nothing to overlap)
        self.range = self.chain.min_range
        self._pruned = -1           # block hashes at or below this are pruned
        self.calm = 0
        self.slow_start = True
        self.head: int | None = None
        self.last_error = ""
        self.reorgs = 0
        with self.store.connection():
            row = ChainCursor.get_or_none(ChainCursor.chain == self.name)
        if row is None:
            self._moved(self.chain.start_block - 1, "")
        else:
            self._moved(row.block_number, row.block_hash)
        self.lag_gauge = self.ctx.services.metrics.gauge(
            "orbital_chain_lag_blocks", "Confirmed blocks not indexed yet, per chain", ("chain",))
        log.info("watcher starting", extra={"path": self.path, "chain": self.name,
                                             "cursor": self.cursor, "rpc": list(self.chain.rpc)})
        self.schedule_tick(0.0)

    def _lead(self) -> bool:
        """Hold the chain's lease (nodes sharing a database index each chain once)."""
        held = self.store.acquire_lease(self.lease, self.chain.lease_ttl) is not None
        if held and not self.leader:
            with self.store.connection():   # another node may have moved the cursor
                row = ChainCursor.get_or_none(ChainCursor.chain == self.name)
            if row is not None:
                self._moved(row.block_number, row.block_hash)
            log.info("watcher indexing (lease held)", extra={"path": self.path, "cursor": self.cursor})
        elif not held and self.leader:
            log.warning("lease lost: another node indexes this chain; standing by",
                        extra={"path": self.path})
        self.leader = held
        return held

    def _release_lease(self) -> None:
        if self.leader:
            try:
                self.store.release_lease(self.lease)   # a standby node takes over at once
            except Exception:  # noqa: BLE001 - it expires by itself
                pass

    def handle(self, message: Any) -> Any:
        if self.run_tick(message, self.chain.poll_interval, self._tick):
            return None
        if isinstance(message, WatcherStatus):
            return self.status()
        return super().handle(message)

    # ---- a tick ---------------------------------------------------------------------
    def _tick(self) -> float:
        """One round of work; returns the delay before the next tick (0 while behind)."""
        started = time.perf_counter()
        if not self._lead():
            self.fetcher.drop()
            return float(max(self.chain.poll_interval, min(1.0, self.chain.lease_ttl / 3)))
        try:
            self.head = hex_int(self.fetcher.call("eth_blockNumber"))
            target = self.head - self.chain.confirm_depth
            if self.cursor_hash and self._check_reorg():
                return 0.0
            # the first ranges are on their way before the loop waits for the first one
            self.fetcher.fill(self.cursor, target, self.range,
                              self.cursor if self.cursor_hash else None)
            while self.cursor < target:
                self._index_range(self.cursor + 1, min(target, self.cursor + self.range),
                                  target)
                if time.perf_counter() - started > self.tick_budget_s:
                    self._drain()
                    self.lag_gauge.labels(self.name).set(max(target - self.cursor, 0))
                    return 0.0
            self._drain()
            self.last_error = ""
            self.lag_gauge.labels(self.name).set(max(target - self.cursor, 0))
            return float(self.chain.poll_interval)
        except RpcUnavailable as exc:
            self._rewind()
            self.last_error = str(exc)
            if exc.timed_out:
                self._shrink()
            log.warning("rpc unavailable", extra={"path": self.path, "error": str(exc)})
            return float(max(self.chain.poll_interval, min(exc.retry_in, 5.0)))
        except (RpcError, Retry) as exc:
            self._rewind()
            if isinstance(exc, LeaseLost):
                self.leader = False
            self.last_error = str(exc)
            log.warning("tick failed, retrying", extra={"path": self.path, "error": str(exc)})
            return float(self.chain.poll_interval)

    def _shrink(self) -> None:
        self.range = max(self.chain.min_range, self.range // 2)
        self.calm = 0
        self.slow_start = False

    # ---- indexing ---------------------------------------------------------------------
    def _account(self, span: int, n: int) -> None:
        """Adaptive range bookkeeping: a range of ``span`` blocks had ``n`` logs."""
        if n > self.range_logs:    # dense blocks: aim at range_logs per range
            self.range = max(self.chain.min_range,
                             min(self.range, span * self.range_logs // n))
            self.calm, self.slow_start = 0, False
            return
        self.calm += 1
        if (self.slow_start or self.calm >= self.grow_after) and 2 * n <= self.range_logs \
                and self.range < self.chain.max_range and span >= self.range:
            self.range = min(self.chain.max_range, self.range * 2)
            self.calm = 0

    def _index_range(self, lo: int, hi: int, target: int) -> None:
        """Index [lo, <= hi]; meanwhile the fetch thread fetches the next range (up to
        ``target``), which the next call takes if it chains onto this one."""
        got = self.fetcher.take(lo, hi, self.cursor if self.cursor_hash else None)
        for _ in range(got.shrinks):
            self._shrink()
        if got.error is not None:
            raise got.error
        if self.cursor_hash and got.hashes[self.cursor] != self.cursor_hash:
            raise Retry("cursor block changed (reorg); re-checking")
        logs = got.logs()
        self._account(got.hi - got.lo + 1, len(logs))
        self.fetcher.fill(got.hi, target, self.range, got.hi)   # the fetch threads go on
        rows = event_rows(self.name, logs)
        got.check(rows)
        blocks = [{"chain": self.name, "number": n, "hash": got.hashes[n]}
                  for n in got.blocks()]
        hi, hi_hash = got.hi, got.hashes[got.hi]
        # block hashes below the reorg window are pruned every quarter window, not per range
        prune: int | None = hi - self.chain.reorg_window
        if prune is not None and prune < self._pruned + max(1, self.chain.reorg_window // 4):
            prune = None
        self._drain()           # the range before this one is committed (or raises here)
        self.committer.submit(self._commit, lo, hi, hi_hash, rows, blocks, self.head or hi,
                              prune)
        self.cursor, self.cursor_hash = hi, hi_hash
        if prune is not None:
            self._pruned = prune

    def _commit(self, lo: int, hi: int, hi_hash: str, rows: list[tuple],
                blocks: list[dict], head: int, prune: int | None) -> tuple[int, str]:
        """Commit thread: one range in ONE transaction, then tell the book. Reads only
        what never changes after setup (store, chain config, names)."""
        commit_range(self.store, self.name, self.lease, self.chain.lease_ttl, hi, hi_hash,
                     rows, blocks, head, prune)
        self._notify(ChainEventsCommitted(self.name, lo, hi, len(rows)))
        return hi, hi_hash

    def _drain(self) -> None:
        """Wait for the commit in flight; the committed position moves (or it raises)."""
        done = self.committer.wait()
        if done is not None:
            self.indexed, self.indexed_hash = done

    def _rewind(self) -> None:
        """After an error: forget the prefetch and what was decoded but not committed."""
        self.fetcher.drop()
        try:
            self._drain()
        except Exception:  # noqa: BLE001 - the error handled now, or one more: both roll back
            pass
        self.cursor, self.cursor_hash = self.indexed, self.indexed_hash

    def _moved(self, number: int, block_hash: str) -> None:
        """The committed position, read from the store (start, lease taken, rollback)."""
        self.cursor, self.cursor_hash = number, block_hash
        self.indexed, self.indexed_hash = number, block_hash

    # ---- reorgs -----------------------------------------------------------------------
    def _check_reorg(self) -> bool:
        """True if a fork was found (and rolled back) below or at the cursor."""
        header = self.fetcher.call("eth_getBlockByNumber", [hex(self.cursor), False])
        if header is not None and header["hash"].lower() == self.cursor_hash:
            return False
        with self.store.connection():
            stored = list(ChainBlock.select(ChainBlock.number, ChainBlock.hash)
                          .where(ChainBlock.chain == self.name)
                          .order_by(ChainBlock.number.desc()))
        candidates = [b for b in stored if b.number <= (self.head or 0)]
        chain_hashes: dict[int, str | None] = {}
        if candidates:
            headers = self.fetcher.batch([("eth_getBlockByNumber", [hex(b.number), False])
                                          for b in candidates])
            chain_hashes = {b.number: (h["hash"].lower() if h else None)
                            for b, h in zip(candidates, headers)}
        fork, fork_hash = None, ""
        for b in candidates:
            if chain_hashes.get(b.number) == b.hash:
                fork, fork_hash = b.number, b.hash
                break
        if fork is None:  # deeper than the window: re-index everything we still remember
            lowest = min((b.number for b in stored), default=self.cursor)
            fork = max(self.chain.start_block - 1, lowest - 1)
            fork_hash = ""
            log.error("reorg deeper than the reorg window", extra={
                "path": self.path, "chain": self.name, "rewind_to": fork})
        old_number, old_hash = self.cursor, self.cursor_hash
        now = time.time()
        with self.store.atomic():
            removed = ChainEvent.delete().where((ChainEvent.chain == self.name) &
                                                (ChainEvent.block_number > fork)).execute()
            ChainBlock.delete().where((ChainBlock.chain == self.name) &
                                      (ChainBlock.number > fork)).execute()
            ChainCursor.update(block_number=fork, block_hash=fork_hash, updated_at=now) \
                .where(ChainCursor.chain == self.name).execute()
            ChainReorg.create(chain=self.name, fork_block=fork, old_block_number=old_number,
                              old_block_hash=old_hash, removed_events=removed,
                              detected_at=now)
        self._moved(fork, fork_hash)
        self.reorgs += 1
        log.warning("reorg: rolled back", extra={
            "path": self.path, "chain": self.name, "fork_block": fork,
            "old_block": old_number, "removed_events": removed})
        self._notify(ChainReorged(self.name, fork, removed))
        return True

    # ---- status / notifications ---------------------------------------------------------
    def _notify(self, message: Any) -> None:
        wake_book(self.ctx.registry, self.store, message)

    def status(self) -> dict[str, Any]:
        head = self.head
        confirmed = None if head is None else max(head - self.chain.confirm_depth, 0)
        return {"name": self.name, "chain_id": self.chain.chain_id, "head": head,
                "confirmed": confirmed, "indexed": self.indexed,
                "lag": None if confirmed is None else max(confirmed - self.indexed, 0),
                "active_rpc": self.rpc.active_url, "rpc": self.rpc.health(),
                "range": self.range, "reorgs": self.reorgs, "last_error": self.last_error,
                "standby": not self.leader, "prefetched": self.fetcher.prefetched}
