"""The in-house solver's transactions through the node's one EVM sender.

Why: the in-house solver signs with the operator key, which the rebalance strategies use
too. Two nonce counters on one key replace or refuse each other's transactions (issue 16,
point 4). So the in-house solver keeps no counter: each of its transactions is recorded
in ``evm_tx`` and broadcast by a :class:`chains.evm.txsend.TxSender` (owner
``intents/in-house``), whose nonce rule is the node's one rule for a (chain, address):
one allocator per process on SQLite, ``pg_advisory_xact_lock(chain id, address)`` in the
recording transaction on PostgreSQL, both counting the recorded transactions not yet
mined (a restart reuses none).

A :class:`chains.evm.txsend.TxSender` belongs to one thread at a time, and the solver's
awards run on several: every use of a chain's sender (a send from an award, the actor's
poll) holds that chain's lock. The sender's writes are fenced by the in-house lease at the
epoch current when they run (:class:`LeaseFence`): an ex-holder records and sends nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chains.evm.txsend import TX_FAILED, TxSender
from runtime import LeaseLost, SingletonLease
from runtime.store import Store

__all__ = ["HouseGateway", "LeaseFence", "TxRefused"]


class TxRefused(RuntimeError):
    """The node refused the in-house solver's transaction at its broadcast (the row is
    ``failed``: nothing of it is pending); the award fails as on any send error."""


class LeaseFence:
    """The :class:`chains.evm.txsend.Fence` of the in-house solver's senders, safe from
    the award threads: it reads the lease's epoch once per use (the lease itself is the
    actor's) and proves it in the writing transaction (:meth:`runtime.store.Store.fence`)."""

    def __init__(self, store: Store, lease: SingletonLease) -> None:
        self.store, self.lease = store, lease

    @contextmanager
    def fenced(self) -> Iterator[Any]:
        epoch = self.lease.epoch
        if epoch is None:
            raise LeaseLost(f"this node does not hold {self.lease.name}; another node runs "
                            "the in-house solver")
        with self.store.atomic() as db:
            self.store.fence(self.lease.name, epoch, self.lease.ttl)
            yield db

    def check(self) -> None:
        with self.fenced():
            pass


class HouseGateway:
    """:class:`solver.TxGateway` over one TxSender per chain id (thread-safe)."""

    def __init__(self, senders: dict[int, TxSender]) -> None:
        self.senders = senders
        self.locks = {chain_id: threading.Lock() for chain_id in senders}

    def send(self, chain_id: int, to: str, data: str, gas: int, label: str) -> str:
        """Record and broadcast; the transaction's hash. A refusal saying the nonce was
        taken (the key used outside this node) is tried once more: the sender then picks
        again from the chain's count. Any other refusal raises :class:`TxRefused`."""
        sender, lock = self.senders[chain_id], self.locks[chain_id]
        with lock:
            for attempt in (1, 2):
                row = sender.submit(to, data=data, gas=gas, purpose=label)
                if row.status != TX_FAILED:
                    return str(row.tx_hash)
                if attempt == 2 or "nonce" not in row.error.lower():
                    break
        raise TxRefused(f"{label} refused on chain {chain_id}: {row.error[:300]}")

    def follow(self, now: float, *, reconcile: bool = False) -> None:
        """The actor's round: close what finished, re-send what was recorded but not sent,
        replace what is stuck (one stuck nonce would hold every later transaction of the
        key, the other actors' too). ``reconcile``: the first round after the lease was
        taken (see :meth:`chains.evm.txsend.TxSender.reconcile`)."""
        for chain_id, sender in self.senders.items():
            with self.locks[chain_id]:
                sender.reconcile() if reconcile else sender.poll()
                sender.replace_stuck(now)
