"""What the attester concluded per order and per batch (``attester_order``,
``attester_batch``), and the FAILED reports to the book.

Why a separate piece: the outcome of a settle transaction must reach its orders exactly
once, also when the actor crashes half-way. So a batch's decisions (settled, skipped,
reverted attempt, retry) are written together with the batch's ``done`` mark in ONE
database transaction; the book is told of FAILED only after that commit, and a report
that did not get through (book down, crash) is kept (``reported = false``) and re-told at
the next start (or when this node takes the chain's lease over).

Several nodes: every write of a chain's orders and batches runs in ``fenced(chain)``, the
transaction of the attester's lease of that chain (``attester:<chain>``), so a node that
lost the lease writes nothing (:class:`runtime.LeaseLost`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from actors.book import IntentRow
from actors import BOOK_PATH
from runtime import ActorUnavailable, FailedPrecondition, NotFound
from runtime.store import Store

from ._messages import SettlementFailed
from ._models import BATCH_DONE, BATCH_OPEN, AttesterBatch, AttesterOrder

__all__ = ["Decision", "Ledger"]

log = logging.getLogger("orbital.attester")


@dataclass(frozen=True)
class Decision:
    """``settled`` | ``skip`` (escrow no longer Opened, not ours to report) | ``revert``
    (one reverted attempt; FAILED at ``max_retries``) | ``retry`` (back to the queue, no
    attempt counted) | ``fail`` (FAILED now) | ``hold`` (a shortfall: not settled until an
    operator decides)."""

    intent: str
    kind: str
    reason: str = ""


class Ledger:
    """``fenced(chain)``: the transaction of every write of ``chain``'s orders and batches
    (the lease of that chain's attester)."""

    def __init__(self, store: Store, registry: Any, max_retries: int,
                 fenced: Callable[[str], AbstractContextManager[Any]]) -> None:
        self.store, self.registry, self.max_retries = store, registry, max_retries
        self.fenced = fenced

    # ---- batches ------------------------------------------------------------------------
    def open_batch(self, chain: str, order_ids: list[str], fillers: list[str],
                   fill_keys: list[str], gas: int, now: float) -> AttesterBatch:
        """The batch and its orders ``inflight``, committed before anything is signed."""
        with self.fenced(chain):
            batch = AttesterBatch.create(chain=chain, order_ids=json.dumps(order_ids),
                                         fillers=json.dumps(fillers),
                                         fill_keys=json.dumps(fill_keys), gas_limit=gas,
                                         created_at=now, updated_at=time.time())
            for oid in order_ids:
                self._mark(oid, chain, "inflight", batch=batch.id, reason="")
        return batch

    def open_batches(self, chain: str) -> list[AttesterBatch]:
        with self.store.connection():
            return list(AttesterBatch.select().where((AttesterBatch.chain == chain) &
                                                     (AttesterBatch.status == BATCH_OPEN))
                        .order_by(AttesterBatch.id))

    def close_batch(self, batch: AttesterBatch, outcome: str, tx_hash: str,
                    decisions: list[Decision]) -> None:
        with self.fenced(batch.chain):
            failed = [self._apply(d, batch.chain, batch.id) for d in decisions]
            AttesterBatch.update(status=BATCH_DONE, outcome=outcome, tx_hash=tx_hash,
                                 updated_at=time.time()).where(
                AttesterBatch.id == batch.id).execute()
        self._report(batch.chain, [f for f in failed if f])

    # ---- single decisions (outside a batch: evidence, simulation) -------------------------
    def decide(self, chain: str, decision: Decision) -> None:
        with self.fenced(chain):
            failed = self._apply(decision, chain, None)
        self._report(chain, [failed] if failed else [])

    def excluded(self):
        """Intents not to pick up again: FAILED by us, in an open batch, held for an
        operator or withheld by one."""
        return AttesterOrder.select(AttesterOrder.intent).where(
            AttesterOrder.status.in_(["failed", "inflight", "held", "withheld"]))

    # ---- operator decisions on held shortfalls -----------------------------------------------
    def operator_decision(self, intent_id: str, repay: bool, note: str = "") -> AttesterOrder:
        """Repay a held shortfall (settled at the next round) or withhold it for good (never
        settled: refunded to the user after fillDeadline). Only a held order can be decided;
        NotFound / FailedPrecondition otherwise, with what it is instead."""
        with self.store.connection():
            row = AttesterOrder.get_or_none(AttesterOrder.intent == intent_id)
        if row is None:
            raise NotFound(f"no settlement of intent {intent_id} is known to this attester",
                           field="intent_id")
        if row.status != "held":
            raise FailedPrecondition(f"the settlement of intent {intent_id} is {row.status}, "
                                     "not held for a decision" +
                                     (f" ({row.decision} decided)" if row.decision else ""))
        by = f"operator: {note}" if note else "operator"
        with self.fenced(row.chain):
            if repay:
                self._mark(intent_id, row.chain, "retry", decision="repay",
                           reason=f"shortfall repaid by decision of the {by}; {row.reason}")
            else:
                self._mark(intent_id, row.chain, "withheld", decision="withhold",
                           reason=f"shortfall withheld by decision of the {by}: not "
                                  f"settled, refunded to the user after fillDeadline; "
                                  f"{row.reason}")
        log.warning("held settlement decided", extra={"intent": intent_id, "repay": repay})
        with self.store.connection():
            return AttesterOrder.get(AttesterOrder.intent == intent_id)

    # ---- FAILED reports ---------------------------------------------------------------------
    def rereport(self, chain: str) -> None:
        """After a restart (or a take-over of ``chain``): tell the book again of FAILED
        intents of ``chain`` it still shows FILLED."""
        with self.store.connection():
            filled = IntentRow.select(IntentRow.id).where(IntentRow.status == "FILLED")
            rows = list(AttesterOrder.select().where((AttesterOrder.status == "failed") &
                                                     (AttesterOrder.chain == chain) &
                                                     AttesterOrder.intent.in_(filled)))
        self._report(chain, [(r.intent, r.reason) for r in rows])

    def _report(self, chain: str, failed: list[tuple[str, str]]) -> None:
        for intent_id, reason in failed:
            try:
                self.registry.tell(BOOK_PATH, SettlementFailed(intent_id, reason))
            except ActorUnavailable:
                log.warning("book unavailable: FAILED report kept for a later retry",
                            extra={"intent": intent_id})
                continue
            with self.fenced(chain):
                AttesterOrder.update(reported=True).where(
                    AttesterOrder.intent == intent_id).execute()

    # ---- internals (inside the caller's database transaction) ------------------------------
    def _apply(self, d: Decision, chain: str, batch: int | None) -> tuple[str, str] | None:
        """Write one decision; the (intent, reason) to report when it ends FAILED."""
        extra: dict[str, Any] = {} if batch is None else {"batch": batch}
        row = AttesterOrder.get_or_none(AttesterOrder.intent == d.intent)
        if d.kind == "settled":
            self._mark(d.intent, chain, "settled", reason="", **extra)
        elif d.kind == "skip":
            if row is None or row.status not in ("settled", "failed"):  # ours stays settled
                self._mark(d.intent, chain, "skipped", reason=d.reason, **extra)
        elif d.kind == "retry":
            self._mark(d.intent, chain, "retry", reason=d.reason, **extra)
        elif d.kind == "revert":
            attempts = (row.attempts if row else 0) + 1
            if attempts < self.max_retries:
                self._mark(d.intent, chain, "retry", reason=d.reason, attempts=attempts, **extra)
                return None
            return self._fail(d.intent, chain, f"{d.reason} (attempt {attempts} of "
                                               f"{self.max_retries})", attempts=attempts, **extra)
        elif d.kind == "fail":
            return self._fail(d.intent, chain, d.reason, **extra)
        elif d.kind == "hold":
            if row is None or row.decision == "":   # a decided one is not held again
                self._mark(d.intent, chain, "held", reason=d.reason, **extra)
        else:
            raise ValueError(f"unknown decision {d.kind!r}")
        return None

    def _fail(self, intent_id: str, chain: str, reason: str, **fields: Any) -> tuple[str, str]:
        self._mark(intent_id, chain, "failed", reason=reason, reported=False, **fields)
        log.warning("settlement FAILED: %s", reason, extra={"intent": intent_id, "chain": chain})
        return intent_id, reason

    def _mark(self, intent_id: str, chain: str, status: str, **fields: Any) -> None:
        values = {"status": status, "updated_at": time.time(), **fields}
        with self.store.connection():   # always inside the caller's fenced transaction
            (AttesterOrder.insert(intent=intent_id, chain=chain, **values)
             .on_conflict(conflict_target=[AttesterOrder.intent],
                          update={getattr(AttesterOrder, k): v for k, v in values.items()})
             .execute())
