"""THE way Orbital sends Solana transactions: record-before-send, idempotent re-sends, and
a new transaction only once the old one is proven never to land.

Why this shape: a top-up (or any payment) must never land twice, and a crash may fall
anywhere. A Solana transaction is identified by its signature, which is fixed the moment
it is signed; it can land only while the block height is at most the
``lastValidBlockHeight`` of its blockhash. So every transaction is signed and written to
``solana_tx`` (signature, wire bytes, blockhash, lastValidBlockHeight, owner, purpose,
reference) in a committed database transaction BEFORE ``sendTransaction``; what is sent
later, after a restart too, is those recorded bytes (same signature: a cluster runs one
signature at most once). A NEW transaction (new blockhash, new signature) for the same
reference is made only when both hold:

1. the block height at ``finalized`` is above the row's ``lastValidBlockHeight`` (read
   first: from then on the old transaction can never land), and
2. ``getSignatureStatuses`` with ``searchTransactionHistory`` (read after) knows nothing
   of the signature: it did not land.

The old row is then ``expired`` and the new one recorded in the same committed database
transaction, before it is sent. A row whose status shows it landed is never re-made.

Public API::

    s = SolanaTxSender(chain_name, rpc, payer, store, owner="funding/sol-a",
                       commitment="finalized", clock=ctx.clock.wall, fence=self.singleton)
    s.reconcile()                       # once at start: poll, sending what was not sent
    row = s.submit(instructions, reference="topup-17", purpose="top-up")
    done = s.poll()                     # rows that became final in this call
    s.find("topup-17")                  # this owner's rows of a reference, oldest first

Statuses (``chains.solana.models``): pending -> landed (a successful status at
``commitment``) | failed (landed with an error: the fee was paid, nothing else moved; or
refused by the nodes' preflight until its blockhash expired: never forwarded, never
landed) | expired (proven never landed; rebuilt as a new row with ``replaces``).

Sends: the first send of a row uses preflight (a refusal is recorded in ``error`` and the
row stays pending: a refusal is not proof enough, the node behind a failover may have
forwarded an earlier attempt); a row a node accepted (``sent_at``) is re-broadcast as the
same bytes with ``skipPreflight`` at each poll while its blockhash is valid, as RPC
clients do (``maxRetries: 0``: the sender, not the node, decides). Expiry of a row never
accepted with a refusal on record ends it ``failed``; of one accepted (or never sent:
a crash between record and send) rebuilds it.

Fencing as :mod:`chains.evm.txsend`: with ``fence`` (a :class:`runtime.SingletonLease`)
every write runs in ``fence.fenced()`` and every send is preceded by ``fence.check()``.
Not thread-safe: one sender belongs to one actor.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.transaction import Transaction

from chains.evm.txsend import Fence
from protocol.solana import sign_transaction
from runtime.store import Store

from .models import (TX_EXPIRED, TX_FAILED, TX_FINAL, TX_LANDED, TX_MIGRATION, TX_PENDING,
                     SolanaTx)
from .rpc import RpcError, RpcUnavailable, SolanaRpc

__all__ = ["SolanaTxSender", "SolanaTx", "TX_MIGRATION", "TX_PENDING", "TX_LANDED",
           "TX_FAILED", "TX_EXPIRED", "TX_FINAL", "reached"]

log = logging.getLogger("orbital.solana.txsend")

_LEVELS = {"processed": 0, "confirmed": 1, "finalized": 2}


def reached(status: dict[str, Any], commitment: str) -> bool:
    """Has a ``getSignatureStatuses`` entry reached ``commitment``?"""
    level = _LEVELS.get(str(status.get("confirmationStatus") or "processed"), 0)
    return level >= _LEVELS[commitment]


class SolanaTxSender:
    """Record-before-send for one owner paying from one keypair on one chain."""

    def __init__(self, chain_name: str, rpc: SolanaRpc, payer: Keypair, store: Store,
                 owner: str, *, commitment: str = "finalized",
                 clock: Callable[[], float] = time.time, fence: Fence | None = None) -> None:
        if commitment not in _LEVELS:
            raise ValueError(f"commitment: one of {sorted(_LEVELS)}, got {commitment!r}")
        self.chain, self.rpc, self.payer, self.store = chain_name, rpc, payer, store
        self.owner, self.commitment, self.clock, self.fence = owner, commitment, clock, fence
        self.address = str(payer.pubkey())
        # Test seam: called after a transaction is recorded and before it is sent.
        self.after_record: Callable[[SolanaTx], None] | None = None

    # ---- queries --------------------------------------------------------------------------
    def pending(self) -> list[SolanaTx]:
        with self.store.connection():
            return list(SolanaTx.select().where(
                (SolanaTx.chain == self.chain) & (SolanaTx.owner == self.owner)
                & (SolanaTx.status == TX_PENDING)).order_by(SolanaTx.id))

    def find(self, reference: str) -> list[SolanaTx]:
        with self.store.connection():
            return list(SolanaTx.select().where(
                (SolanaTx.chain == self.chain) & (SolanaTx.owner == self.owner)
                & (SolanaTx.reference == reference)).order_by(SolanaTx.id))

    # ---- send -----------------------------------------------------------------------------
    def submit(self, instructions: Sequence[Instruction], reference: str = "", *,
               purpose: str = "") -> SolanaTx:
        """Sign ``instructions`` (fee payer: the sender's keypair) with the latest
        blockhash, record the row (committed), then send it. An RPC outage after the
        record leaves it pending and unsent: :meth:`poll` sends it."""
        self._check()
        blockhash, last_valid = self.rpc.latest_blockhash(self.commitment)
        signed = sign_transaction(instructions, self.payer, blockhash)
        with self._tx():
            row = SolanaTx.create(
                chain=self.chain, payer=self.address, owner=self.owner, purpose=purpose,
                reference=reference, signature=signed.signature, wire=signed.wire,
                blockhash=blockhash, last_valid_height=last_valid, status=TX_PENDING,
                created_at=self.clock())
        log.info("transaction recorded", extra={
            "chain": self.chain, "owner": self.owner, "signature": row.signature,
            "reference": reference, "last_valid_height": last_valid})
        if self.after_record is not None:
            self.after_record(row)
        self._send(row)
        return row

    def reconcile(self) -> list[SolanaTx]:
        """After a (re)start: follow every pending row (:meth:`poll`): recorded but never
        sent ones are sent now as their recorded bytes, or rebuilt once expired."""
        return self.poll()

    def poll(self) -> list[SolanaTx]:
        """Follow this owner's pending rows: landed / failed from their statuses; no status
        and blockhash still valid -> the same bytes again; no status and blockhash expired
        -> expired and rebuilt (or failed, if nodes only ever refused it). Returns the rows
        that became final in this call."""
        rows = self.pending()
        if not rows:
            return []
        height = self.rpc.block_height("finalized")      # first: see module doc
        statuses = self.rpc.signature_statuses([r.signature for r in rows])
        done: list[SolanaTx] = []
        for row, status in zip(rows, statuses):
            if status is not None:
                if status.get("err") is not None:
                    self._close(row, TX_FAILED, slot=status.get("slot"),
                                error=f"landed with error: {status['err']}"[:500])
                    done.append(row)
                elif reached(status, self.commitment):
                    self._close(row, TX_LANDED, slot=status.get("slot"))
                    if row.sent_at is None:       # sent just before a crash
                        self._update(row, sent_at=row.finished_at)
                    done.append(row)
                # else: landed, not yet at the commitment: wait
            elif height > row.last_valid_height:
                done.append(row)
                if row.sent_at is None and row.error:
                    self._close(row, TX_FAILED, error=f"never accepted: {row.error}"[:500])
                else:
                    self._rebuild(row)
            else:
                self._send(row)
        return done

    def _rebuild(self, row: SolanaTx) -> SolanaTx:
        """``row`` is proven never to land: the same message with a new blockhash, a new
        signature, recorded together with the old row's end, then sent."""
        self._check()
        blockhash, last_valid = self.rpc.latest_blockhash(self.commitment)
        old = Transaction.from_bytes(base64.b64decode(row.wire))
        tx = Transaction.new_unsigned(old.message)
        tx.sign([self.payer], Hash.from_string(blockhash))
        now = self.clock()
        with self._tx():
            SolanaTx.update(status=TX_EXPIRED, finished_at=now,
                            error="blockhash expired, no status: never landed").where(
                SolanaTx.id == row.id).execute()
            new = SolanaTx.create(
                chain=self.chain, payer=self.address, owner=self.owner, purpose=row.purpose,
                reference=row.reference, signature=str(tx.signatures[0]),
                wire=base64.b64encode(bytes(tx)).decode(), blockhash=blockhash,
                last_valid_height=last_valid, replaces=row.id, status=TX_PENDING,
                created_at=now)
        row.status, row.finished_at = TX_EXPIRED, now
        log.warning("transaction expired without landing: rebuilt", extra={
            "chain": self.chain, "owner": self.owner, "old": row.signature,
            "signature": new.signature, "reference": row.reference})
        if self.after_record is not None:
            self.after_record(new)
        self._send(new)
        return new

    # ---- internals ------------------------------------------------------------------------
    def _tx(self) -> AbstractContextManager[Any]:
        if self.fence is not None:
            return self.fence.fenced()
        return self.store.atomic()

    def _check(self) -> None:
        if self.fence is not None:
            self.fence.check()

    def _send(self, row: SolanaTx) -> None:
        """Send the recorded bytes: with preflight until a node accepted them, then as a
        plain re-broadcast. The owner's fence is checked first."""
        self._check()
        self.store.make_durable()   # the record survives a power loss before the bytes leave
        try:
            sig = self.rpc.send_transaction(row.wire, skip_preflight=row.sent_at is not None)
        except RpcUnavailable as exc:
            log.warning("send postponed: no RPC endpoint", extra={
                "chain": self.chain, "signature": row.signature, "error": str(exc)[:200]})
            return
        except RpcError as exc:
            if "already been processed" in exc.message.lower():
                return                # it landed: the next poll reads its status
            if row.sent_at is None and exc.message[:500] != row.error:
                self._update(row, error=exc.message[:500])
            log.warning("transaction refused by preflight", extra={
                "chain": self.chain, "signature": row.signature, "error": exc.message[:300]})
            return
        if sig != row.signature:      # a node answering another signature is broken
            raise RpcError(f"sendTransaction answered {sig}, expected {row.signature}")
        if row.sent_at is None:
            self._update(row, sent_at=self.clock(), error="")
            log.info("transaction sent", extra={
                "chain": self.chain, "owner": self.owner, "signature": row.signature,
                "purpose": row.purpose, "reference": row.reference})

    def _update(self, row: SolanaTx, **fields: Any) -> None:
        with self._tx():
            SolanaTx.update(**fields).where(SolanaTx.id == row.id).execute()
        for k, v in fields.items():
            setattr(row, k, v)

    def _close(self, row: SolanaTx, status: str, *, slot: Any = None, error: str = "") -> None:
        assert status in TX_FINAL
        self._update(row, status=status, slot=slot if isinstance(slot, int) else None,
                     error=error or row.error, finished_at=self.clock())
