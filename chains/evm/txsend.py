"""THE way Orbital sends EVM transactions: record-then-send, nonces, EIP-1559 fees,
replacement of stuck transactions, reconciliation after a restart.

Why this shape: a transaction must never be sent twice *as two different transactions*
(two top-ups, two bridge moves), and a crash may fall anywhere. So every transaction is
signed and written to ``evm_tx`` (raw bytes, hash, nonce, owner, purpose, reference, fees)
in a committed database transaction BEFORE it is broadcast; whatever is broadcast later
(after a restart too) is those recorded bytes, or a recorded replacement with the SAME
nonce, of which at most one can be mined. An owner that must not act twice for one need
records the need first and passes its id as ``reference``; after a crash it finds the
transaction again with :meth:`TxSender.find`.

Public API::

    cfg = TxConfig(replace_after=30, ...)           # embeddable in a config section
    s = TxSender(chain_name, chain_id, rpc, account, store, owner="funding/gas-a", cfg=cfg,
                 clock=ctx.clock.wall)               # clock: wall seconds (FakeClock ok)
    s.reconcile()          # once at start: close what finished while down, re-send the
                           # recorded-but-unsent bytes, re-send what the node forgot
    row = s.submit(to, data=b"", value=0, gas=None, reference="need-17", purpose="top-up")
                           # -> EvmTx row; row.status "pending" (sent_at set when a node
                           #    took it) or "failed" (refused at once: row.error says why)
    rows = s.submit_all([TxCall(token, approve0), TxCall(token, approveX, gas=60_000)],
                        reference="need-18", purpose="top-up")
                           # several transactions as one durable step: recorded together
                           # (consecutive nonces) in one committed transaction, then sent
                           # in order; ``submit`` is the one-call case
    done = s.poll()        # -> rows that reached a final status in this call:
                           #    mined | reverted | replaced | dropped | failed
    new = s.replace_stuck(now)   # -> replacement rows (same nonce, fees bumped), and
                                 #    0-value self-transfers filling refused nonces
                                 #    under ours (purpose "nonce-fill")
    s.find(reference)      # -> this owner's rows for a reference, oldest first
    s.close()              # in the owner's teardown

Statuses (``chains.evm.txsend_models``): pending -> mined | reverted (receipt) | replaced
(another row of its nonce was mined) | dropped (the nonce was consumed by a transaction
that is none of ours) | failed (refused at its first broadcast: never in a mempool).

Several nodes: an owner that is a singleton across nodes passes its lease as ``fence`` (any
object with ``fenced()``, a context manager of a transaction that commits only while the
lease is held, and ``check()``: :class:`runtime.SingletonLease` is one). Every write of the
sender (the row, its status) then runs in ``fence.fenced()``, and every broadcast (first,
again, a replacement) is preceded by ``fence.check()``: an ex-holder that resumes after its
lease moved records nothing and sends nothing (:class:`runtime.LeaseLost`, raised to the
owner). Without a fence, writes are plain transactions (one node).

Nonces on PostgreSQL: one key is used by singletons held by different nodes (funding
accounts share the treasury key), so no per-process counter can be right. Each nonce is
picked in the very transaction that records its row, under ``pg_advisory_xact_lock``
keyed by (chain id, address): the lowest nonce at or above the chain's pending count that
no row of that address holds (a row refused at once, ``failed``, holds none). The lock is
held until the row commits, so the next process to pick sees it. A refused nonce is free
again at once, and a gap under a pending transaction is filled by the next submission or by
:meth:`TxSender.replace_stuck` (``nonce-fill``).

Nonces on SQLite (one node): one allocator per (chain id, address) per process and
database, shared by every TxSender of that address whatever its owner (the attester and
the relayer, the in-house solver and the rebalance strategies, funding accounts on one
treasury key: no two of them collide). It starts from
``eth_getTransactionCount(address, "pending")`` and the recorded pending rows of that
address, then counts locally; a nonce whose transaction was refused at once goes back to
the allocator and is the next one handed out (a gap would block every later nonce); a
gap under a pending transaction that no new submission fills is filled by
:meth:`TxSender.replace_stuck` with a 0-value transfer to the sender itself. A refusal
saying the nonce is taken ("nonce too low", "underpriced": the key was used elsewhere)
makes the allocator start again from the chain. The same call again at unchanged fees
after a refusal would be the same signed bytes: it gets 1 wei more priority fee, hence a
hash and an ``evm_tx`` row of its own.

Fees: ``eth_feeHistory`` over ``fee_history_blocks``; priority fee = mean of the
``priority_percentile`` rewards, at least ``min_priority_fee_gwei``; max fee = 2 x the next
block's base fee + priority fee (room for six full blocks of base fee growth), capped at
``max_fee_gwei``. A replacement raises both fees by at least ``fee_bump`` (12.5%, geth's
replacement rule) and to the current suggestion if that is higher; one that would break
the cap is not made (logged). Not thread-safe: one sender belongs to one actor.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from eth_typing import HexStr
from eth_utils import keccak, to_checksum_address

from runtime.config import opt
from runtime.store import Store

from .rpc import RpcClient, RpcError, RpcUnavailable
from .signer import Signer
from .txsend_models import (FINAL, MIGRATION, TX_DROPPED, TX_FAILED, TX_MINED, TX_PENDING,
                            TX_REPLACED, TX_REVERTED, EvmTx)

__all__ = ["TxConfig", "TxSender", "TxCall", "Fence", "Fees", "suggest_fees", "bump", "EvmTx", "MIGRATION",
           "TX_PENDING", "TX_MINED", "TX_REVERTED", "TX_REPLACED", "TX_DROPPED", "TX_FAILED",
           "FINAL", "GWEI"]

log = logging.getLogger("orbital.evm.txsend")

GWEI = 10**9


@dataclass(frozen=True)
class TxConfig:
    """How transactions are priced and replaced (embed it in a kind's config section)."""

    replace_after: float = opt(30.0, min=0.0, max=86_400,
                               doc="seconds without a receipt before a transaction is "
                                   "replaced (same nonce, fees bumped)")
    fee_bump: float = opt(0.125, min=0.125, max=10.0,
                          doc="fee increase of a replacement (>= 12.5%, geth's rule)")
    fee_history_blocks: int = opt(10, min=1, max=1024)
    priority_percentile: float = opt(50.0, min=0, max=100)
    min_priority_fee_gwei: float = opt(1.0, min=0, max=10_000)
    max_fee_gwei: float = opt(500.0, min=0.000001, max=1_000_000,
                              doc="cap of maxFeePerGas; no fee goes above it")
    gas_margin: float = opt(1.25, min=1.0, max=10.0, doc="eth_estimateGas x margin")


@dataclass(frozen=True)
class TxCall:
    """One transaction of a step (:meth:`TxSender.submit_all`): ``gas`` None is estimated."""

    to: str
    data: bytes | str = b""
    value: int = 0
    gas: int | None = None


# ---- fees -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fees:
    max_fee: int
    priority_fee: int


def suggest_fees(rpc: RpcClient, cfg: TxConfig) -> Fees:
    floor = int(cfg.min_priority_fee_gwei * GWEI)
    cap = int(cfg.max_fee_gwei * GWEI)
    try:
        hist = rpc.call("eth_feeHistory", [hex(cfg.fee_history_blocks), "latest",
                                           [cfg.priority_percentile]])
        base_next = int(hist["baseFeePerGas"][-1], 16)
        rewards = [int(r[0], 16) for r in (hist.get("reward") or []) if r]
        priority = max(floor, sum(rewards) // len(rewards) if rewards else 0)
    except (RpcError, KeyError, IndexError, TypeError, ValueError) as exc:
        # a node without eth_feeHistory: the legacy gas price stands for the base fee
        log.warning("eth_feeHistory unusable, using eth_gasPrice", extra={"error": str(exc)})
        base_next = int(rpc.call("eth_gasPrice"), 16)
        priority = floor
    max_fee = min(cap, 2 * base_next + priority)
    return Fees(max_fee, min(priority, max_fee))


def bump(old: Fees, now: Fees, cfg: TxConfig) -> Fees | None:
    """Fees of a replacement: each >= old x (1 + fee_bump) and >= now; None past the cap."""
    factor = 1.0 + cfg.fee_bump
    priority = max(math.ceil(old.priority_fee * factor), now.priority_fee)
    max_fee = max(math.ceil(old.max_fee * factor), now.max_fee, priority)
    if max_fee > int(cfg.max_fee_gwei * GWEI):
        return None
    return Fees(max_fee, priority)


# ---- fencing -------------------------------------------------------------------------------
class Fence(Protocol):
    """What a singleton owner passes as ``fence`` (:class:`runtime.SingletonLease` is one):
    ``fenced()`` a transaction that commits only while the owner leads, ``check()`` a
    proof that it leads now. Both raise the owner's lease error when it does not."""

    def fenced(self) -> AbstractContextManager[Any]: ...

    def check(self) -> None: ...


def nonce_lock_key(chain_id: int, address: str) -> int:
    """The ``pg_advisory_xact_lock`` key of (chain id, address): a signed 64-bit int."""
    digest = keccak(text=f"orbital-nonce:{chain_id}:{address.lower()}")
    return int.from_bytes(digest[:8], "big", signed=True)


# ---- nonces on SQLite: one allocator per (chain, address) per process ---------------------
class _NonceBook:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next: int | None = None       # None: sync from chain + store on next take
        self.holes: set[int] = set()       # refused nonces below ``next``, handed out first
        self.users = 0


_BOOKS: dict[tuple, _NonceBook] = {}
_BOOKS_LOCK = threading.Lock()


def _book_key(chain_id: int, address: str, store: Store) -> tuple:
    """Whose allocator a sender uses: one per (chain id, address) and database, whatever
    owner, chain name or RPC list the sender was built with (an in-house solver, a
    rebalance strategy and the attester on one key share it; so do the senders of an
    actor before and after a reload that changed its RPC URLs). The database is part of
    the key because the allocator counts its recorded rows: two nodes of one test process
    on two SQLite files are two nonce streams, as two processes would be."""
    name = "" if store.is_postgres else str(getattr(store.db, "database", "") or "")
    # PostgreSQL picks nonces in the database (the allocator is unused): per store
    where: Any = os.path.realpath(name) if name not in ("", ":memory:") else id(store)
    return (chain_id, address, where)


def _known(text: str) -> bool:
    return "already known" in text or "known transaction" in text or "already imported" in text


# ---- the sender ---------------------------------------------------------------------------
class TxSender:
    """Record-then-send for one owner from one account on one chain (see module doc)."""

    def __init__(self, chain_name: str, chain_id: int, rpc: RpcClient, account: Signer,
                 store: Store, owner: str, cfg: TxConfig, *,
                 clock: Callable[[], float] = time.time, fence: Fence | None = None) -> None:
        self.chain, self.chain_id, self.rpc, self.account = chain_name, chain_id, rpc, account
        self.store, self.owner, self.cfg, self.clock = store, owner, cfg, clock
        self.fence = fence
        self.address = to_checksum_address(account.address)
        # PostgreSQL: nonces picked in the database (several nodes may use this key)
        self.shared_nonces = store.is_postgres
        self._lock_key = nonce_lock_key(chain_id, self.address)
        # Test seam: called after a transaction is recorded and before its broadcast;
        # tests raise from it to crash the owner exactly there.
        self.after_record: Callable[[EvmTx], None] | None = None
        self._key = _book_key(chain_id, self.address, store)
        with _BOOKS_LOCK:
            self._book = _BOOKS.setdefault(self._key, _NonceBook())
            self._book.users += 1
        self._closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _BOOKS_LOCK:
            self._book.users -= 1
            if self._book.users <= 0 and _BOOKS.get(self._key) is self._book:
                del _BOOKS[self._key]

    # ---- queries --------------------------------------------------------------------------
    def pending(self) -> list[EvmTx]:
        """This owner's rows not final yet, by nonce then age."""
        with self.store.connection():
            return list(EvmTx.select().where(
                (EvmTx.chain == self.chain) & (EvmTx.sender == self.address)
                & (EvmTx.owner == self.owner) & (EvmTx.status == TX_PENDING))
                .order_by(EvmTx.nonce, EvmTx.id))

    def find(self, reference: str) -> list[EvmTx]:
        with self.store.connection():
            return list(EvmTx.select().where(
                (EvmTx.owner == self.owner) & (EvmTx.chain == self.chain)
                & (EvmTx.reference == reference)).order_by(EvmTx.id))

    # ---- send -----------------------------------------------------------------------------
    def submit(self, to: str, data: bytes | str = b"", value: int = 0, gas: int | None = None,
               reference: str = "", *, purpose: str = "") -> EvmTx:
        """Sign, record (committed), then broadcast. ``gas`` None: estimated x margin (an
        estimate that reverts raises :class:`RpcError`, nothing recorded). An RPC outage
        at broadcast leaves the row pending and unsent: :meth:`poll` sends it later.
        One transaction of :meth:`submit_all`."""
        return self.submit_all([TxCall(to, data, value, gas)], reference, purpose=purpose)[0]

    def submit_all(self, calls: Sequence[TxCall], reference: str = "", *,
                   purpose: str = "") -> list[EvmTx]:
        """Several transactions as one durable step, in order (consecutive nonces): all are
        signed and recorded in ONE committed (fenced) database transaction, then broadcast
        in nonce order. So a crash leaves all of them recorded or none; recorded ones are
        sent after a restart (:meth:`reconcile`, in nonce order), never made again.

        A call's ``gas`` None is estimated x margin before anything is recorded, against
        the chain as it is now: a call that only succeeds after an earlier one of the step
        (``approve(0)`` then ``approve(x)`` on a USDT-style token) must give its gas. An
        estimate that reverts raises :class:`RpcError`, nothing recorded. Broadcasting
        stops at the first row not sent (an RPC outage: :meth:`poll` sends the rest, in
        order); a row refused at once (``failed``) fails the rows after it unsent (they
        must not run without it), their nonces free again."""
        if not calls:
            return []
        planned: list[tuple[str, int, str, int]] = []    # (to, value, data, gas)
        for c in calls:
            data_hex = c.data if isinstance(c.data, str) else "0x" + bytes(c.data).hex()
            to = to_checksum_address(c.to)
            gas = c.gas
            if gas is None:
                est = int(self.rpc.call("eth_estimateGas", [{
                    "from": self.address, "to": to, "value": hex(c.value), "data": data_hex}]), 16)
                gas = math.ceil(est * self.cfg.gas_margin)
            planned.append((to, c.value, data_hex, gas))
        fees = suggest_fees(self.rpc, self.cfg)
        nonces: list[int | None] = [None] * len(planned)
        if not self.shared_nonces:
            taken: list[int] = []
            try:
                for _ in planned:
                    taken.append(self._take_nonce())
            except BaseException:
                for n in taken:
                    self._give_back(n)
                raise
            nonces = list(taken)
        try:
            with self._tx() as db:
                rows = [self._create(db, nonce, to, value, data, gas, fees, reference, purpose,
                                     replaces=None)
                        for nonce, (to, value, data, gas) in zip(nonces, planned)]
        except BaseException:
            for picked in nonces:
                if picked is not None:
                    self._give_back(picked)
            raise
        out: list[EvmTx] = []
        for row in rows:
            assert row is not None, "no bound: a nonce is always picked"
            out.append(row)
        if self.after_record is not None:
            for row in out:
                self.after_record(row)
        for i, row in enumerate(out):
            self._broadcast(row, fresh=True)
            if row.status == TX_FAILED:
                for later in out[i + 1:]:
                    self._close(later, TX_FAILED, error=f"not sent: {row.tx_hash} before it in "
                                                        f"the same step was refused")
                    if not self.shared_nonces:
                        self._give_back(later.nonce)
                break
            if row.sent_at is None:
                break       # postponed: poll sends it, then the rest, in nonce order
        return out

    def replace_stuck(self, now: float) -> list[EvmTx]:
        """Replace each nonce whose newest attempt was sent ``replace_after`` s before
        ``now`` (clock seconds) without a receipt. Call :meth:`poll` first."""
        out = []
        pending = self.pending()
        if pending:
            out += self._fill_holes(pending[-1].nonce)
        for nonce, group in self._groups(pending).items():
            newest = group[-1]
            if newest.sent_at is None or now - newest.sent_at < self.cfg.replace_after:
                continue
            fees = bump(Fees(newest.max_fee, newest.priority_fee),
                        suggest_fees(self.rpc, self.cfg), self.cfg)
            if fees is None:
                log.warning("stuck transaction not replaced: fees would exceed max_fee_gwei",
                            extra={"chain": self.chain, "owner": self.owner,
                                   "tx": newest.tx_hash, "nonce": nonce})
                continue
            self._check()     # an ex-holder replaces nothing (and records nothing)
            row = self._record(nonce, newest.to, newest.value, newest.data,
                               newest.gas_limit, fees, newest.reference, newest.purpose,
                               replaces=newest.id)
            assert row is not None
            log.info("replacing stuck transaction", extra={
                "chain": self.chain, "owner": self.owner, "nonce": nonce,
                "old": newest.tx_hash, "new": row.tx_hash, "max_fee": fees.max_fee,
                "priority_fee": fees.priority_fee})
            if self.after_record is not None:
                self.after_record(row)
            self._broadcast(row, fresh=False, replacement=True)
            out.append(row)
        return out

    # ---- follow up --------------------------------------------------------------------------
    def poll(self) -> list[EvmTx]:
        """Receipts of this owner's pending rows; sends recorded-but-unsent ones. Returns
        the rows that became final in this call (each nonce group at once)."""
        rows = self.pending()
        if not rows:
            return []
        # The count first, receipts second: a receipt that appears in between is seen;
        # "count moved past the nonce and none of our hashes has a receipt" is then sure.
        # One batch, so one endpoint's view: with failover a second call may reach another
        # endpoint that lags (no receipt yet), and "consumed elsewhere" must not be
        # concluded from two views. Each transaction is also looked up by hash: DROPPED is
        # concluded only when the node that says the nonce is used knows none of ours.
        n = len(rows)
        replies = self.rpc.batch(
            [("eth_getTransactionCount", [self.address, "latest"])]
            + [("eth_getTransactionReceipt", [r.tx_hash]) for r in rows]
            + [("eth_getTransactionByHash", [r.tx_hash]) for r in rows])
        latest = int(replies[0], 16)
        by_hash = dict(zip((r.tx_hash for r in rows), replies[1:1 + n]))
        known = {r.tx_hash for r, seen in zip(rows, replies[1 + n:]) if seen}
        done: list[EvmTx] = []
        for nonce, group in self._groups(rows).items():
            mined = [(r, by_hash[r.tx_hash]) for r in group if by_hash.get(r.tx_hash)]
            if mined:
                winner, rc = mined[0]
                ok = int(rc.get("status", "0x0"), 16) == 1
                self._close(winner, TX_MINED if ok else TX_REVERTED,
                            block=int(rc["blockNumber"], 16),
                            gas_used=int(rc.get("gasUsed", "0x0"), 16))
                done.append(winner)
                for r in group:
                    if r.id != winner.id:
                        self._close(r, TX_REPLACED, error=f"nonce {nonce} mined as "
                                                          f"{winner.tx_hash}")
                        done.append(r)
                continue
            if latest > nonce and any(r.tx_hash in known for r in group):
                continue    # the node has ours but no receipt yet: it is being mined
            if latest > nonce:
                for r in group:
                    self._close(r, TX_DROPPED,
                                error=f"nonce {nonce} consumed by a transaction not ours")
                    done.append(r)
                log.warning("transaction dropped: nonce consumed elsewhere", extra={
                    "chain": self.chain, "owner": self.owner, "nonce": nonce,
                    "tx": [r.tx_hash for r in group]})
                continue
            for r in group:
                if r.sent_at is None:       # recorded, never (known to be) broadcast
                    self._broadcast(r, fresh=False)
                    if r.status == TX_FAILED:
                        done.append(r)
        return done

    def reconcile(self) -> list[EvmTx]:
        """After a (re)start: :meth:`poll`, then re-send the newest attempt of each nonce
        the node no longer knows (restart, eviction). Returns what became final."""
        done = self.poll()
        for group in self._groups(self.pending()).values():
            newest = group[-1]
            if newest.sent_at is not None and \
                    self.rpc.call("eth_getTransactionByHash", [newest.tx_hash]) is None:
                log.info("re-sending a transaction the node forgot", extra={
                    "chain": self.chain, "owner": self.owner, "tx": newest.tx_hash})
                self._broadcast(newest, fresh=False)
        return done

    # ---- internals ------------------------------------------------------------------------
    @staticmethod
    def _groups(rows: list[EvmTx]) -> dict[int, list[EvmTx]]:
        out: dict[int, list[EvmTx]] = {}
        for r in sorted(rows, key=lambda r: (r.nonce, r.id)):
            out.setdefault(r.nonce, []).append(r)
        return out

    def _take_nonce(self) -> int:
        book = self._book
        with book.lock:
            if book.next is None:
                self._sync(book)
            if book.holes:
                n = min(book.holes)
                book.holes.discard(n)
                return n
            nonce = book.next
            assert nonce is not None, "the book is synced above"
            book.next = nonce + 1
            return nonce

    def _give_back(self, nonce: int) -> None:
        with self._book.lock:
            if self._book.next is not None and nonce < self._book.next:
                self._book.holes.add(nonce)

    def _fill_holes(self, below: int) -> list[EvmTx]:
        """A refused nonce under one of ours blocks it for good unless someone uses it:
        send a 0-value transfer to ourselves at each such nonce (purpose ``nonce-fill``).
        On PostgreSQL the holes are the free nonces the database allocator finds below
        ``below`` (another node's sender may fill one first: then it is no hole)."""
        if self.shared_nonces:
            out: list[EvmTx] = []
            while True:
                row = self._record(None, self.address, 0, "0x", 21_000,
                                   suggest_fees(self.rpc, self.cfg), "", "nonce-fill",
                                   replaces=None, below=below)
                if row is None:
                    return out
                log.warning("filling a nonce gap under a pending transaction", extra={
                    "chain": self.chain, "owner": self.owner, "nonce": row.nonce,
                    "tx": row.tx_hash})
                self._broadcast(row, fresh=True)
                out.append(row)
                if row.status == TX_FAILED:   # refused: the next round tries again
                    return out
        with self._book.lock:
            holes = sorted(h for h in self._book.holes if h < below)
            self._book.holes.difference_update(holes)
        out = []
        for h in holes:
            row = self._record(h, self.address, 0, "0x", 21_000, suggest_fees(self.rpc, self.cfg),
                               "", "nonce-fill", replaces=None)
            assert row is not None
            log.warning("filling a nonce gap under a pending transaction", extra={
                "chain": self.chain, "owner": self.owner, "nonce": h, "tx": row.tx_hash})
            self._broadcast(row, fresh=True)
            out.append(row)
        return out

    def _sync(self, book: _NonceBook) -> None:
        """Chain's pending count and every owner's pending rows of this address."""
        chain_next = int(self.rpc.call("eth_getTransactionCount",
                                       [self.address, "pending"]), 16)
        with self.store.connection():
            used = {r.nonce for r in EvmTx.select(EvmTx.nonce).where(
                (EvmTx.chain == self.chain) & (EvmTx.sender == self.address)
                & (EvmTx.status == TX_PENDING) & (EvmTx.nonce >= chain_next))}
        book.next = max([chain_next, *(n + 1 for n in used)])
        book.holes = set(range(chain_next, book.next)) - used

    def _record(self, nonce: int | None, to: str, value: int, data: str, gas: int,
                fees: Fees, reference: str, purpose: str, *, replaces: int | None,
                below: int | None = None) -> EvmTx | None:
        """Sign and record one transaction in a committed (fenced) transaction.

        ``nonce`` None: picked by the database allocator inside that transaction
        (PostgreSQL, :meth:`_free_nonce`); with ``below``, only a nonce under it (a gap to
        fill), and None when there is none."""
        with self._tx() as db:
            return self._create(db, nonce, to, value, data, gas, fees, reference, purpose,
                                replaces=replaces, below=below)

    def _create(self, db: Any, nonce: int | None, to: str, value: int, data: str, gas: int,
                fees: Fees, reference: str, purpose: str, *, replaces: int | None,
                below: int | None = None) -> EvmTx | None:
        """:meth:`_record`'s work inside the caller's transaction ``db`` (one row)."""
        if nonce is None:
            nonce = self._free_nonce(db)
            if below is not None and nonce >= below:
                return None
        while True:
            signed = self.account.sign_transaction({
                "type": 2, "chainId": self.chain_id, "nonce": nonce, "to": HexStr(to),
                "value": value, "data": HexStr(data), "gas": gas,
                "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee})
            # A refused transaction gives its nonce back; the same call again at
            # unchanged fees would be the very same bytes (tx_hash is unique): 1 wei
            # more makes it a transaction, and a row, of its own.
            if not EvmTx.select().where(
                    EvmTx.tx_hash == "0x" + bytes(signed.hash).hex()).exists():
                break
            fees = (Fees(fees.max_fee, fees.priority_fee + 1)
                    if fees.priority_fee < fees.max_fee
                    else Fees(fees.max_fee + 1, fees.priority_fee))
        return EvmTx.create(
            chain=self.chain, chain_id=self.chain_id, sender=self.address, nonce=nonce,
            owner=self.owner, purpose=purpose, reference=reference, to=to, value=value,
            data=data, gas_limit=gas, max_fee=fees.max_fee, priority_fee=fees.priority_fee,
            tx_hash="0x" + bytes(signed.hash).hex(),
            raw_tx="0x" + bytes(signed.raw_transaction).hex(), replaces=replaces,
            status=TX_PENDING, created_at=self.clock(), sent_at=None)

    def _free_nonce(self, db: Any) -> int:
        """Inside the recording transaction (PostgreSQL): lock (chain id, address) until
        commit, then the lowest nonce >= the chain's pending count that no row of this
        address holds. Any row but a ``failed`` one holds its nonce: pending (recorded,
        maybe not broadcast yet, maybe by another node), or final with its nonce used."""
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
        chain_next = int(self.rpc.call("eth_getTransactionCount",
                                       [self.address, "pending"]), 16)
        held = {r.nonce for r in EvmTx.select(EvmTx.nonce).where(
            (EvmTx.chain == self.chain) & (EvmTx.sender == self.address)
            & (EvmTx.status != TX_FAILED) & (EvmTx.nonce >= chain_next))}
        nonce = chain_next
        while nonce in held:
            nonce += 1
        return nonce

    def _tx(self) -> AbstractContextManager[Any]:
        """A transaction for the sender's writes: the owner's fence when it has one."""
        if self.fence is not None:
            return self.fence.fenced()
        return self.store.atomic()

    def _check(self) -> None:
        """Before anything leaves the process: does the owner still lead?"""
        if self.fence is not None:
            self.fence.check()

    def _broadcast(self, row: EvmTx, *, fresh: bool, replacement: bool = False) -> None:
        """Send the recorded bytes. A refusal of a row that never reached a mempool makes
        it ``failed`` (its nonce goes back to the allocator unless a sibling holds it).
        The owner's fence is checked first: an ex-holder sends nothing."""
        self._check()
        self.store.make_durable()   # the record survives a power loss before the bytes leave
        try:
            # One endpoint only: a lost reply does not mean a lost transaction, and the
            # same bytes sent blind to the next endpoint could be refused there ("nonce too
            # low": the first one mined it) and then wrongly marked FAILED. A lost reply
            # leaves the row unsent; the next poll looks it up by hash and re-sends it.
            self.rpc.call("eth_sendRawTransaction", [row.raw_tx], failover=False)
        except RpcUnavailable as exc:
            log.warning("broadcast postponed: no RPC endpoint answered", extra={
                "chain": self.chain, "tx": row.tx_hash, "error": str(exc)[:200]})
            return
        except RpcError as exc:
            text = exc.message.lower()
            if not _known(text):
                landed = self._landed(row)
                if landed is None:      # cannot tell now: left unsent, the next poll re-sends
                    log.warning("broadcast refused and the lookup unanswered; retried "
                                "next poll", extra={"chain": self.chain, "tx": row.tx_hash,
                                                    "error": exc.message[:200]})
                    return
                if landed:
                    text = "already known"   # refused here, but ours is pooled or mined
            if not _known(text):
                if "nonce too low" in text and not fresh and not replacement:
                    # maybe ours, mined before a crash: the next poll decides (receipt or
                    # consumed elsewhere); the row counts as sent from now on
                    self._update(row, sent_at=self.clock(), error=exc.message[:500])
                    return
                self._close(row, TX_FAILED, error=exc.message[:500])
                if self.shared_nonces:
                    pass    # the database allocator reads the chain at each pick
                elif "nonce too low" in text or ("underpriced" in text and not replacement):
                    with self._book.lock:      # the nonce is taken by a transaction not
                        self._book.next = None  # ours (mined or pooled): resync
                elif not replacement:
                    self._give_back(row.nonce)
                log.warning("transaction refused", extra={
                    "chain": self.chain, "owner": self.owner, "tx": row.tx_hash,
                    "nonce": row.nonce, "error": exc.message[:300]})
                return
        if row.sent_at is None:
            self._update(row, sent_at=self.clock())
        log.info("transaction sent", extra={
            "chain": self.chain, "owner": self.owner, "tx": row.tx_hash, "nonce": row.nonce,
            "purpose": row.purpose, "reference": row.reference})

    def _landed(self, row: EvmTx) -> bool | None:
        """Does the node know this transaction (pooled or mined)? Asked before a refusal
        is believed: FAILED only when the lookup confirms it is not ours; None when the
        lookup got no answer (never taken as a refusal)."""
        try:
            found = self.rpc.batch([("eth_getTransactionByHash", [row.tx_hash]),
                                    ("eth_getTransactionReceipt", [row.tx_hash])])
        except (RpcUnavailable, RpcError):
            return None
        return any(found)

    def _update(self, row: EvmTx, **fields) -> None:
        with self._tx():
            EvmTx.update(**fields).where(EvmTx.id == row.id).execute()
        for k, v in fields.items():
            setattr(row, k, v)

    def _close(self, row: EvmTx, status: str, *, block: int | None = None,
               gas_used: int | None = None, error: str = "") -> None:
        assert status in FINAL
        self._update(row, status=status, block_number=block, gas_used=gas_used,
                     error=error or row.error, finished_at=self.clock())
