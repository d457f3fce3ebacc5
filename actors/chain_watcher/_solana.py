"""``chains/watcher/<name>`` for a ``kind: solana`` chain: follows the slot at the chain's
commitment (``solana_cursor``) and indexes the SPL transfers into token accounts of the
configured mints (``solana_transfer``), see docs/solana.md.

Each tick (:meth:`runtime.Actor.run_tick`):

1. the chain's lease ``chain:<name>`` (nodes sharing a database follow a chain once; the
   others stand by), as the EVM watchers;
2. ``getSlot`` at ``processed`` (the head) and at the configured commitment (the target),
   in one batch request to the active URL, failing over to the next (:mod:`chains.solana.rpc`);
3. the signatures of the SPL Token program since the cursor's signature (or, without
   one, after the cursor's slot), paged newest first with ``getSignaturesForAddress`` at
   the commitment, then each transaction's ``getTransaction`` in one batch, oldest first,
   at most ``page_size`` per tick;
4. the transfers found and the cursor (slot and last signature) in ONE transaction that
   also renews the lease (a node that lost the lease rolls back and stands by).

Why the Token program and not the mint: a plain ``Transfer`` instruction names the source,
destination and authority but not the mint, so on a real cluster a mint's own signature
list misses such transfers; every SPL token instruction names the Token program.

An RPC outage is an answer, not a crash: the error is kept for ``ListChains``
(``last_error``), the tick is retried after ``poll_interval`` (or the RPC's backoff), and
the cursor stays where it was; so it does when an RPC answers a slot below the cursor (a
lagging replica, a reset devnet). A restart resumes from the stored cursor; without one the
watcher starts at ``start_slot`` (or at the slot it first sees).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chains.solana import (
    TOKEN_PROGRAM,
    RpcError,
    RpcUnavailable,
    SolanaCursor,
    SolanaRpc,
    SolanaWatcherSpec,
    insert_transfers,
    transfers_of,
)
from runtime import Actor

from ._messages import ChainEventsCommitted, WatcherStatus
from ._wake import wake_book

__all__ = ["SolanaWatcher"]

log = logging.getLogger("orbital.chain_watcher")


class LeaseLost(Exception):
    """The cursor commit found the lease held by another node (rolled back)."""


class SolanaWatcher(Actor):
    kind = "chain_watcher"

    def setup(self) -> None:
        spec: SolanaWatcherSpec = self.config
        self.name, self.chain = spec.name, spec.chain
        self.store = self.ctx.services.store
        self.rpc = SolanaRpc(self.chain.rpc, timeout=self.chain.rpc_timeout,
                             backoff_max=self.chain.rpc_backoff_max)
        self.resources.callback(self.rpc.close)
        self.lease = f"chain:{self.name}"
        self.leader = False
        self.resources.callback(self._release_lease)
        self.head: int | None = None          # processed slot, last seen
        self.confirmed: int | None = None     # slot at the commitment, last seen
        self.last_error = ""
        self.mints = frozenset(t.mint for t in self.chain.tokens.values())
        self.signature = ""                   # last indexed signature ("" before any)
        self.cursor = self._stored()
        self.lag_gauge = self.ctx.services.metrics.gauge(
            "orbital_chain_lag_blocks", "Confirmed blocks not indexed yet, per chain", ("chain",))
        log.info("solana watcher starting", extra={
            "path": self.path, "chain": self.name, "cursor": self.cursor,
            "commitment": self.chain.commitment, "rpc": list(self.chain.rpc)})
        self.schedule_tick(0.0)

    def _stored(self) -> int | None:
        """The committed slot; ``start_slot - 1`` before any; None: the first slot seen."""
        with self.store.connection():
            row = SolanaCursor.get_or_none(SolanaCursor.chain == self.name)
        if row is not None:
            self.signature = str(row.signature)
            return int(row.slot)
        return None if self.chain.start_slot is None else self.chain.start_slot - 1

    def _lead(self) -> bool:
        held = self.store.acquire_lease(self.lease, self.chain.lease_ttl) is not None
        if held and not self.leader:
            self.cursor = self._stored()    # another node may have moved it
            log.info("solana watcher following (lease held)",
                     extra={"path": self.path, "cursor": self.cursor})
        elif not held and self.leader:
            log.warning("lease lost: another node follows this chain; standing by",
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

    def _tick(self) -> float:
        if not self._lead():
            return float(max(self.chain.poll_interval, min(1.0, self.chain.lease_ttl / 3)))
        try:
            head, target = self.rpc.slots("processed", self.chain.commitment)
        except RpcUnavailable as exc:
            self.last_error = str(exc)
            log.warning("rpc unavailable", extra={"path": self.path, "error": str(exc)})
            return float(max(self.chain.poll_interval, min(exc.retry_in, 5.0)))
        except RpcError as exc:
            self.last_error = str(exc)
            log.warning("rpc error, retrying", extra={"path": self.path, "error": str(exc)})
            return float(self.chain.poll_interval)
        self.head, self.confirmed = max(head, target), target
        if self.cursor is not None and target < self.cursor:
            # A cluster's slots never go back at a commitment of confirmed or more; an RPC
            # that does is behind (a lagging replica) or a reset devnet. The cursor stays:
            # following it back would undo progress already reported.
            self.last_error = (f"slot {target} at {self.chain.commitment} is below the "
                               f"cursor {self.cursor}: RPC behind or chain reset; waiting")
            log.warning("slot below the cursor", extra={"path": self.path, "slot": target,
                                                        "cursor": self.cursor})
            return float(self.chain.poll_interval)
        if self.cursor is None or target >= self.cursor:
            try:
                self._index(target, self.head)
            except LeaseLost as exc:
                self.leader = False
                self.last_error = str(exc)
                log.warning("lease lost at commit; standing by", extra={"path": self.path})
                return float(self.chain.poll_interval)
            except RpcUnavailable as exc:
                self.last_error = str(exc)
                log.warning("rpc unavailable", extra={"path": self.path, "error": str(exc)})
                return float(max(self.chain.poll_interval, min(exc.retry_in, 5.0)))
            except RpcError as exc:
                self.last_error = str(exc)
                log.warning("rpc error, retrying", extra={"path": self.path, "error": str(exc)})
                return float(self.chain.poll_interval)
        self.last_error = ""
        self.lag_gauge.labels(self.name).set(self._lag() or 0)
        return float(self.chain.poll_interval)

    def _pending(self, target: int) -> list[dict[str, Any]]:
        """Token program signatures not indexed yet, up to ``target``, oldest first: newer
        than the cursor's signature, or (without one) in slots after the cursor."""
        if self.cursor is None:
            return []                        # first start: follow from the slot seen
        out: list[dict[str, Any]] = []
        before: str | None = None
        while True:
            page = self.rpc.signatures(TOKEN_PROGRAM, commitment=self.chain.commitment,
                                       limit=self.chain.page_size, before=before,
                                       until=self.signature or None)
            fresh = [r for r in page if self.signature or r["slot"] > self.cursor]
            out += fresh
            if len(fresh) < len(page) or len(page) < self.chain.page_size:
                break
            before = page[-1]["signature"]
        out.reverse()
        return [r for r in out if r["slot"] <= target]

    def _index(self, target: int, head: int) -> None:
        """Index up to ``page_size`` pending transactions and move the cursor: to ``target``
        when none is left, else to the last one indexed (the next tick goes on)."""
        pending = self._pending(target)
        batch = pending[:self.chain.page_size]
        ok = [r["signature"] for r in batch if r.get("err") is None]
        replies = self.rpc.transactions(ok, commitment=self.chain.commitment) if ok else []
        rows = [vars(t) for sig, reply in zip(ok, replies)
                for t in transfers_of(sig, reply, self.mints)]
        signature = batch[-1]["signature"] if batch else self.signature
        slot = target if len(pending) <= len(batch) else int(batch[-1]["slot"])
        if self.cursor is not None and slot == self.cursor and signature == self.signature:
            return
        self._commit(slot, head, signature, rows)
        self.cursor, self.signature = slot, signature
        if rows:
            log.info("solana transfers indexed", extra={"path": self.path, "count": len(rows),
                                                        "slot": slot})
            if any(r["order_id"] for r in rows):   # evidence of fills: the book reads them
                wake_book(self.ctx.registry, self.store,
                          ChainEventsCommitted(self.name, slot, slot, len(rows)))

    def _commit(self, slot: int, head: int, signature: str,
                rows: list[dict[str, Any]]) -> None:
        """The transfers and the cursor at (``slot``, ``signature``), with the lease
        renewed, in ONE transaction: a restart resumes with no gap and no duplicate."""
        now = time.time()
        with self.store.atomic():
            if not self.store.acquire_lease(self.lease, self.chain.lease_ttl):
                raise LeaseLost("lease lost to another node; standing by")   # rolls back
            insert_transfers(self.store.db, self.name, rows)
            (SolanaCursor.insert(chain=self.name, slot=slot, signature=signature,
                                 commitment=self.chain.commitment, head=head, updated_at=now)
             .on_conflict(conflict_target=[SolanaCursor.chain],
                          update={SolanaCursor.slot: slot, SolanaCursor.head: head,
                                  SolanaCursor.signature: signature,
                                  SolanaCursor.commitment: self.chain.commitment,
                                  SolanaCursor.updated_at: now}).execute())

    def _lag(self) -> int | None:
        if self.confirmed is None:
            return None
        return max(self.confirmed - (self.cursor if self.cursor is not None else -1), 0)

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "solana", "commitment": self.chain.commitment,
                "head": self.head, "confirmed": self.confirmed,
                "indexed": self.cursor if self.cursor is not None else -1,
                "lag": self._lag(), "active_rpc": self.rpc.active_url,
                "rpc": self.rpc.health(), "last_error": self.last_error,
                "standby": not self.leader}
