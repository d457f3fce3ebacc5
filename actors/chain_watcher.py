"""``chains/watcher/<name>``: one reorg-safe log indexer per configured EVM chain.

Each tick (a timer message the actor sends itself; no thread of its own):

1. head via ``eth_blockNumber`` (RPC failover in :mod:`actors.evm.rpc`); target is
   ``head - confirmations``;
2. reorg check: the stored hash of the cursor block is compared with the chain's; on a
   mismatch the fork point is the highest stored recent block whose hash still matches;
   events and blocks above it are deleted, the cursor rewinds, a ``chain_reorg`` row is
   written (all in one transaction) and ``intents/book`` is told :class:`ChainReorged`;
3. backfill from ``cursor + 1`` with raw ``eth_getLogs`` (settler/bridge addresses, known
   topics) over an adaptive range: halved on "too many results"/size errors and timeouts,
   doubled again after a few calm ranges; logs are decoded with :mod:`protocol.events`;
   the blocks the logs name and the range's last block are fetched in one batch and must
   agree with the logs (else the range is retried: a reorg raced the query);
4. events, recent block hashes and the cursor go in ONE transaction (batched inserts);
   only then is ``intents/book`` told :class:`ChainEventsCommitted`.

The store is the source of truth: notifications are best effort (``ActorUnavailable``
is ignored); the book catches up by reading ``chain_event`` from its own last position.
An RPC outage never skips a block: the cursor only moves after a successful commit, and
the next tick starts again from it. A restart (or crash) resumes from the persisted cursor.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import peewee
import pykka

from actors.evm import RpcClient, RpcError, RpcUnavailable

# Config, tables and the log decoder live in the private package actors.evm (config.py,
# models.py, ingest.py); imported here (``X as X`` = re-export) so that callers importing
# them from this module, as they did before the split, keep working.
from actors.evm.config import ChainConfig, ContractsConfig, WatcherSpec
from actors.evm.ingest import _int, event_rows, insert_events
from actors.evm.ingest import fast_decode as fast_decode, to_json as to_json
from actors.evm.models import MIGRATION, ChainBlock, ChainCursor, ChainEvent, ChainReorg
from actors.evm.models import MODELS as MODELS
from protocol.events import EVENTS_BY_TOPIC
from runtime import Actor, ActorUnavailable, ChildSpec
from runtime.config import App

__all__ = ["ChainConfig", "ContractsConfig", "WatcherSpec", "ChainWatcher", "Tick",
           "WatcherStatus", "ChainEventsCommitted", "ChainReorged", "ChainCursor",
           "ChainBlock", "ChainEvent", "ChainReorg", "install", "BOOK_PATH"]

log = logging.getLogger("orbital.chain_watcher")

BOOK_PATH = "intents/book"
_TOO_MUCH = re.compile(r"too many|more than|limit|exceed|too large|response size|range",
                       re.IGNORECASE)


# ---- messages -------------------------------------------------------------------------
@dataclass(frozen=True)
class Tick:
    seq: int


@dataclass(frozen=True)
class WatcherStatus:
    """Ask: the watcher's live view (head, confirmed, indexed, RPC health)."""


@dataclass(frozen=True)
class ChainEventsCommitted:
    """Told to ``intents/book`` after a commit: events of blocks [from_block, to_block]."""

    chain: str
    from_block: int
    to_block: int
    count: int


@dataclass(frozen=True)
class ChainReorged:
    """Told to ``intents/book`` after a rollback: every event above ``fork_block`` is gone."""

    chain: str
    fork_block: int
    removed_events: int



class _Retry(Exception):
    """Try this range again (the chain moved under the query)."""


# ---- the actor ------------------------------------------------------------------------
class ChainWatcher(Actor):
    kind = "chain_watcher"
    tick_budget_s = 0.5        # work per tick before yielding the mailbox
    grow_after = 3             # calm ranges before the range doubles again

    def setup(self) -> None:
        spec: WatcherSpec = self.config
        self.name, self.chain = spec.name, spec.chain
        self.store = self.ctx.services.store
        self.rpc = RpcClient(self.chain.rpc, timeout=self.chain.rpc_timeout,
                             backoff_max=self.chain.rpc_backoff_max)
        self.addresses = [a.lower() for a in self.chain.contracts.addresses()]
        self.topics = [sorted(EVENTS_BY_TOPIC)]
        self.range = self.chain.max_range
        self.calm = 0
        self.head: int | None = None
        self.last_error = ""
        self.reorgs = 0
        self._timer = None
        self._seq = 0
        with self.store.connection():
            row = ChainCursor.get_or_none(ChainCursor.chain == self.name)
        if row is None:
            self.cursor, self.cursor_hash = self.chain.start_block - 1, ""
        else:
            self.cursor, self.cursor_hash = row.block_number, row.block_hash
        log.info("watcher starting", extra={"path": self.path, "chain": self.name,
                                             "cursor": self.cursor, "rpc": list(self.chain.rpc)})
        self._schedule(0.0)

    def teardown(self) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
        if getattr(self, "rpc", None) is not None:
            self.rpc.close()

    def handle(self, message: Any) -> Any:
        if isinstance(message, Tick):
            if message.seq == self._seq:
                self._schedule(self._tick())
            return None
        if isinstance(message, WatcherStatus):
            return self.status()
        return super().handle(message)

    # ---- scheduling -------------------------------------------------------------------
    def _schedule(self, delay: float) -> None:
        self._seq += 1
        seq, ref = self._seq, self.actor_ref

        def fire() -> None:
            try:
                ref.tell(Tick(seq))
            except pykka.ActorDeadError:
                pass
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.ctx.clock.call_later(delay, fire)

    def _tick(self) -> float:
        """One round of work; returns the delay before the next tick."""
        started = time.perf_counter()
        try:
            self.head = _int(self.rpc.call("eth_blockNumber"))
            target = self.head - self.chain.confirmations
            if self.cursor_hash and self._check_reorg():
                return 0.0
            while self.cursor < target:
                self._index_range(self.cursor + 1, min(target, self.cursor + self.range))
                if time.perf_counter() - started > self.tick_budget_s:
                    return 0.0
            self.last_error = ""
            return self.chain.poll_interval
        except RpcUnavailable as exc:
            self.last_error = str(exc)
            if exc.timed_out:
                self._shrink()
            log.warning("rpc unavailable", extra={"path": self.path, "error": str(exc)})
            return max(self.chain.poll_interval, min(exc.retry_in, 5.0))
        except (RpcError, _Retry) as exc:
            self.last_error = str(exc)
            log.warning("tick failed, retrying", extra={"path": self.path, "error": str(exc)})
            return self.chain.poll_interval

    def _shrink(self) -> None:
        self.range = max(self.chain.min_range, self.range // 2)
        self.calm = 0

    # ---- indexing ---------------------------------------------------------------------
    def _get_logs(self, lo: int, hi: int) -> tuple[int, list[dict]]:
        """Logs of [lo, hi'] with hi' <= hi, shrinking the range on size errors/timeouts."""
        while True:
            try:
                logs = self.rpc.call("eth_getLogs", [{
                    "fromBlock": hex(lo), "toBlock": hex(hi), "address": self.addresses,
                    "topics": self.topics}])
            except RpcError as exc:
                if not _TOO_MUCH.search(exc.message) or hi == lo:
                    raise
                self._shrink()
                hi = lo + max((hi - lo + 1) // 2, 1) - 1
                continue
            except RpcUnavailable as exc:
                if not exc.timed_out or hi == lo:
                    raise
                self._shrink()
                hi = lo + max((hi - lo + 1) // 2, 1) - 1
                continue
            self.calm += 1
            if self.calm >= self.grow_after and self.range < self.chain.max_range:
                self.range = min(self.chain.max_range, self.range * 2)
                self.calm = 0
            return hi, logs

    def _index_range(self, lo: int, hi: int) -> None:
        hi, logs = self._get_logs(lo, hi)
        numbers = sorted({_int(lg["blockNumber"]) for lg in logs} | {hi})
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        if self.cursor_hash:
            calls.append(("eth_getBlockByNumber", [hex(self.cursor), False]))
        headers = self.rpc.batch(calls)
        if any(h is None for h in headers):
            raise _Retry(f"blocks {lo}..{hi} not available yet")
        hashes = {_int(h["number"]): h["hash"].lower() for h in headers}
        if self.cursor_hash and hashes[self.cursor] != self.cursor_hash:
            raise _Retry("cursor block changed (reorg); re-checking")
        for lg in logs:
            if lg["blockHash"].lower() != hashes[_int(lg["blockNumber"])]:
                raise _Retry(f"block {_int(lg['blockNumber'])} changed during the query")
        rows = event_rows(self.name, logs)
        blocks = [{"chain": self.name, "number": n, "hash": hashes[n]} for n in numbers]
        now = time.time()
        with self.store.connection() as db, db.atomic():
            insert_events(db, rows)
            for i in range(0, len(blocks), 500):
                (ChainBlock.insert_many(blocks[i:i + 500])
                 .on_conflict(conflict_target=[ChainBlock.chain, ChainBlock.number],
                              update={ChainBlock.hash: peewee.EXCLUDED.hash}).execute())
            ChainBlock.delete().where((ChainBlock.chain == self.name) &
                                      (ChainBlock.number <= hi - self.chain.reorg_window)
                                      ).execute()
            (ChainCursor.insert(chain=self.name, block_number=hi, block_hash=hashes[hi],
                                head=self.head or hi, updated_at=now)
             .on_conflict(conflict_target=[ChainCursor.chain],
                          update={ChainCursor.block_number: hi,
                                  ChainCursor.block_hash: hashes[hi],
                                  ChainCursor.head: self.head or hi,
                                  ChainCursor.updated_at: now}).execute())
        self.cursor, self.cursor_hash = hi, hashes[hi]
        self._notify(ChainEventsCommitted(self.name, lo, hi, len(rows)))

    # ---- reorgs -----------------------------------------------------------------------
    def _check_reorg(self) -> bool:
        """True if a fork was found (and rolled back) below or at the cursor."""
        header = self.rpc.call("eth_getBlockByNumber", [hex(self.cursor), False])
        if header is not None and header["hash"].lower() == self.cursor_hash:
            return False
        with self.store.connection():
            stored = list(ChainBlock.select(ChainBlock.number, ChainBlock.hash)
                          .where(ChainBlock.chain == self.name)
                          .order_by(ChainBlock.number.desc()))
        candidates = [b for b in stored if b.number <= (self.head or 0)]
        chain_hashes: dict[int, str | None] = {}
        if candidates:
            headers = self.rpc.batch([("eth_getBlockByNumber", [hex(b.number), False])
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
        with self.store.connection() as db, db.atomic():
            removed = ChainEvent.delete().where((ChainEvent.chain == self.name) &
                                                (ChainEvent.block_number > fork)).execute()
            ChainBlock.delete().where((ChainBlock.chain == self.name) &
                                      (ChainBlock.number > fork)).execute()
            ChainCursor.update(block_number=fork, block_hash=fork_hash, updated_at=now) \
                .where(ChainCursor.chain == self.name).execute()
            ChainReorg.create(chain=self.name, fork_block=fork, old_block_number=old_number,
                              old_block_hash=old_hash, removed_events=removed,
                              detected_at=now)
        self.cursor, self.cursor_hash = fork, fork_hash
        self.reorgs += 1
        log.warning("reorg: rolled back", extra={
            "path": self.path, "chain": self.name, "fork_block": fork,
            "old_block": old_number, "removed_events": removed})
        self._notify(ChainReorged(self.name, fork, removed))
        return True

    # ---- status / notifications ---------------------------------------------------------
    def _notify(self, message: Any) -> None:
        try:
            self.ctx.registry.tell(BOOK_PATH, message)
        except ActorUnavailable:
            pass  # the store is the source of truth: the book catches up from chain_event

    def status(self) -> dict[str, Any]:
        head = self.head
        confirmed = None if head is None else max(head - self.chain.confirmations, 0)
        return {"name": self.name, "chain_id": self.chain.chain_id, "head": head,
                "confirmed": confirmed, "indexed": self.cursor,
                "lag": None if confirmed is None else max(confirmed - self.cursor, 0),
                "active_rpc": self.rpc.active_url, "rpc": self.rpc.health(),
                "range": self.range, "reorgs": self.reorgs, "last_error": self.last_error}


# ---- installation ---------------------------------------------------------------------
def install(app: App) -> None:
    app.section("chains", dict[str, ChainConfig])
    app.migration(MIGRATION)

    @app.provide("chains")
    def watchers(config) -> list[ChildSpec]:
        chains = config.section("chains") or {}
        return [ChildSpec(f"watcher/{name}", ChainWatcher, WatcherSpec(name, cfg))
                for name, cfg in sorted(chains.items()) if cfg.kind == "evm"]

    from actors.chain_service import chain_service
    app.service(chain_service)
