"""``intents/attester``: settles FILLED intents on their origin chain.

Each round (a timer message to itself every ``poll_interval``, or a :class:`Poll` ask),
per origin chain:

1. follow what is in flight (:meth:`Attester._follow`): the chain's
   :class:`~actors.evm.txsend.TxSender` polls receipts (the first time after a start it
   reconciles: recorded-but-unsent bytes are sent, forgotten ones re-sent), replaces stuck
   transactions, and every open batch whose transactions are all final gets its outcome
   applied to its orders (mined -> settled; reverted -> retried up to ``max_retries``
   then FAILED, or skipped if it lost a race; dropped/refused -> back to the queue, and
   after a refusal no new batch on that chain for ``replace_after`` seconds).
   While a transaction of ours is pending on a chain nothing new is sent there;
2. candidates: ``intent`` rows (the book's; read only) with status FILLED on this origin,
   minus the ones this attester already FAILED or has in flight;
3. each must be at ``settlement_depth`` on its destination (head - fill_block), have
   matching fill evidence in ``chain_event`` (:mod:`._evidence`; a mismatch is FAILED, a
   missing or reorged row waits) and an escrow still ``Opened`` on the origin settler
   (``escrows(id)``; Settled/Refunded ones are skipped: never settle twice);
4. up to ``batch_size`` of them go in one ``settle(orderIds, fillers)``: gas estimated
   first (an estimate that reverts is narrowed down order by order), the batch committed
   (``attester_batch``), then the transaction recorded and sent by the TxSender with
   ``reference = settle:<batch id>``.

:class:`RefundDue` (keeper task ``refund_expired``) sends ``refund(orderId)`` for an
expired OPENED intent through the same sender (``reference = refund:<intent id>``).
Nonces are the TxSender's: one counter per (chain, address) per process, shared with any
other actor signing with the same key (devnet: the bridge relayer).

A FAILED decision is told to ``intents/book`` as :class:`SettlementFailed`; SETTLED and
REFUNDED come from the watcher. RPC outages end the chain's round (retried next round);
nothing half-done is lost because every transaction is in ``evm_tx`` first.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address

from actors.book._models import IntentRow
from actors.evm import RpcClient, RpcError, RpcUnavailable
from actors.evm.txsend import TX_FAILED, TX_MINED, TX_PENDING, TX_REVERTED, EvmTx
from actors.evm.owner import SenderOwner
from runtime import Actor
from runtime._logging import register_secret

from ._calls import (ESCROW_STATUS, attester_calldata, decode_escrow_status, escrow_calldata,
                     revert_reason, settle_calldata)
from ._config import AttesterSpec
from ._evidence import Verdict, filled_events, judge
from ._ledger import Decision, Ledger
from ._messages import AttesterStatus, Poll, RefundDue
from ._models import AttesterBatch
from ._refunds import REFUND_PURPOSE, send_refund

__all__ = ["Attester"]

log = logging.getLogger("orbital.attester")

SETTLE = "settle"      # evm_tx.purpose


class Attester(SenderOwner, Actor):
    kind = "attester"
    # Test seam: called by the senders after a transaction is recorded, before its broadcast.

    def setup(self) -> None:
        spec: AttesterSpec = self.config
        self.spec, self.cfg = spec, spec.config
        register_secret(self.cfg.key)
        self.account = Account.from_key(self.cfg.key)
        self.store = self.ctx.services.store
        self.rpcs = {n: RpcClient(c.rpc, timeout=self.cfg.rpc_timeout,
                                  backoff_max=c.rpc_backoff_max) for n, c in spec.chains.items()}
        self.settlers = {n: to_checksum_address(c.contracts.settler)
                         for n, c in spec.chains.items()}
        self.ledger = Ledger(self.store, self.ctx.registry, self.cfg.max_retries)
        self.build_senders({n: spec.chains[n].chain_id for n in spec.origins}, self.cfg)
        self._reconciled: set[str] = set()   # chains whose sender reconciled since start
        self._refused: dict[str, tuple[float, str]] = {}   # chain -> (when, why) refused
        self.role: dict[str, str] = {}       # chain -> "" ok | reason it cannot settle
        self.last_round: dict[str, Any] = {}
        log.info("attester starting", extra={"path": self.path, "address": self.account.address,
                                              "origins": list(spec.origins)})
        self.ledger.rereport()
        self.schedule_tick(0.0)

    def teardown(self) -> None:
        self.close_chains()

    def handle(self, message: Any) -> Any:
        if self.run_tick(message, self.cfg.poll_interval, self._round):
            return None
        if isinstance(message, Poll):
            return self._round()
        if isinstance(message, RefundDue):
            return self._refund_round()
        if isinstance(message, AttesterStatus):
            return self.status()
        return super().handle(message)


    # ---- in flight --------------------------------------------------------------------------
    def _follow(self, name: str) -> list[EvmTx]:
        """Receipts, replacements and batch outcomes on ``name``; our rows still pending."""
        sender = self.senders[name]
        final = sender.poll() if name in self._reconciled else sender.reconcile()
        self._reconciled.add(name)
        for row in final:
            if row.purpose == REFUND_PURPOSE:
                log.info("refund transaction %s", row.status, extra={
                    "chain": name, "tx": row.tx_hash, "reference": row.reference,
                    "error": row.error})
        sender.replace_stuck(self.ctx.clock.wall())
        for batch in self.ledger.open_batches(name):
            rows = sender.find(batch.reference)
            if not any(r.status == TX_PENDING for r in rows):
                self._conclude(name, batch, rows)
        return sender.pending()

    def _conclude(self, name: str, batch: AttesterBatch, rows: list[EvmTx]) -> None:
        """Apply the outcome of a batch whose transactions are all final (exactly once)."""
        ids, fillers = json.loads(batch.order_ids), json.loads(batch.fillers)
        mined = [r for r in rows if r.status == TX_MINED]
        reverted = [r for r in rows if r.status == TX_REVERTED]
        if mined:
            self.ledger.close_batch(batch, "settled", mined[0].tx_hash,
                                    [Decision(i, "settled") for i in ids])
            log.info("settle transaction mined", extra={"chain": name, "tx": mined[0].tx_hash,
                                                        "block": mined[0].block_number,
                                                        "orders": len(ids)})
            return
        if reverted:
            row = reverted[0]
            decisions = []
            for oid, filler, st in zip(ids, fillers, self._escrows(name, ids)):
                if st in (2, 3):   # lost a race (refund, another settle): not our failure
                    decisions.append(Decision(oid, "skip", f"settle transaction {row.tx_hash} "
                                                           f"reverted; escrow {ESCROW_STATUS[st]} "
                                                           f"on chain"))
                    continue
                why = self._simulate(name, oid, filler) or "out of gas or state changed"
                if why.startswith("Unauthorized"):   # the role moved: not the order's fault
                    self.role.pop(name, None)
                    decisions.append(Decision(oid, "retry", why))
                else:
                    decisions.append(Decision(oid, "revert", f"settle transaction {row.tx_hash} "
                                                             f"reverted in block "
                                                             f"{row.block_number}: {why}"))
            self.ledger.close_batch(batch, "reverted", row.tx_hash, decisions)
            log.warning("settle transaction reverted", extra={"chain": name, "tx": row.tx_hash})
            return
        # Nothing of it was mined: never recorded (crash or RPC outage before the record),
        # refused at its broadcast, or its nonce went to a transaction not ours.
        why = (f"settle transaction {rows[-1].tx_hash} {rows[-1].status}: {rows[-1].error}"
               if rows else "settle transaction never recorded")
        if rows and rows[-1].status == TX_FAILED:   # the node refused it (funds, fees...)
            self._refused[name] = (self.ctx.clock.wall(), why)
        self.ledger.close_batch(batch, "lost" if rows else "unsent",
                                rows[-1].tx_hash if rows else "",
                                [Decision(i, "retry", why) for i in ids])
        log.warning("settle batch not mined, its orders go back to the queue",
                    extra={"chain": name, "batch": batch.id, "reason": why})

    # ---- a round ------------------------------------------------------------------------
    def _round(self) -> dict[str, Any]:
        heads: dict[str, int] = {}
        out: dict[str, Any] = {}
        for name in self.senders:
            try:
                out[name] = self._settle_chain(name, heads)
            except (RpcUnavailable, RpcError) as exc:
                out[name] = {"error": str(exc)}
                log.warning("attester round failed, retrying next round",
                            extra={"path": self.path, "chain": name, "error": str(exc)})
        self.last_round = out
        return out

    def _settle_chain(self, name: str, heads: dict[str, int]) -> dict:
        pending = self._follow(name)
        if pending:
            return {"inflight": [r.tx_hash for r in pending]}
        if not self._role_ok(name):
            return {"error": self.role[name]}
        when, why = self._refused.get(name, (None, ""))
        if when is not None and self.ctx.clock.wall() - when < self.cfg.replace_after:
            # The node refused our last settle: not a new batch (and evm_tx row) every
            # round; again after replace_after seconds.
            return {"sent": None, "refused": why}
        batch: list[tuple[IntentRow, str]] = []
        waiting, skipped = 0, 0
        ready = self._ready(name, heads)
        statuses = self._escrows(name, [i.id for i, _ in ready])
        for (intent, filler), st in zip(ready, statuses):
            if st == 1:
                batch.append((intent, filler))
            elif st in (2, 3):
                skipped += 1
                self.ledger.decide(name, Decision(intent.id, "skip", f"escrow already "
                                                                     f"{ESCROW_STATUS[st]} on chain"))
            else:
                waiting += 1
            if len(batch) >= self.cfg.batch_size:
                break
        if batch:
            batch, gas = self._estimate(name, batch)
        if not batch:
            return {"sent": None, "skipped": skipped, "waiting": waiting}
        ids, fillers = [i.id for i, _ in batch], [f for _, f in batch]
        record = self.ledger.open_batch(name, ids, fillers, gas, self.ctx.clock.wall())
        row = self.senders[name].submit(self.settlers[name], settle_calldata(ids, fillers),
                                        gas=gas, reference=record.reference, purpose=SETTLE)
        log.info("settle transaction sent", extra={"chain": name, "tx": row.tx_hash,
                                                   "batch": record.id, "orders": len(ids),
                                                   "status": row.status})
        return {"sent": row.tx_hash, "orders": ids, "skipped": skipped, "status": row.status}

    def _role_ok(self, name: str) -> bool:
        """Is our key the settler's attester? Checked once when it is, each round when not
        (an admin may fix the role at any time); the error is logged when it changes."""
        if self.role.get(name, None) != "":
            got = self.rpcs[name].call("eth_call", [{"to": self.settlers[name],
                                                     "data": attester_calldata()}, "latest"])
            who = to_checksum_address("0x" + got[-40:])
            why = "" if who == self.account.address else (
                f"{self.account.address} is not the attester of the settler on {name} "
                f"(it is {who}): not settling there")
            if why and why != self.role.get(name):
                log.error(why, extra={"path": self.path, "chain": name})
            self.role[name] = why
        return not self.role[name]

    def _ready(self, name: str, heads: dict[str, int]) -> list[tuple[IntentRow, str]]:
        """FILLED intents of ``name`` at settlement depth with good evidence (bad -> FAILED)."""
        with self.store.connection():
            intents = list(IntentRow.select().where(
                (IntentRow.status == "FILLED") & (IntentRow.origin_chain == name) &
                IntentRow.id.not_in(self.ledger.excluded()))
                .order_by(IntentRow.fill_block, IntentRow.id).limit(self.cfg.batch_size * 4))
            events = {i.id: filled_events(i) for i in intents}
        deep = []
        for i in intents:
            if i.fill_chain not in self.rpcs:
                log.warning("fill chain not configured", extra={"intent": i.id,
                                                                 "chain": i.fill_chain})
                continue
            if i.fill_chain not in heads:
                heads[i.fill_chain] = int(self.rpcs[i.fill_chain].call("eth_blockNumber"), 16)
            if heads[i.fill_chain] - i.fill_block >= self.cfg.settlement_depth:
                deep.append(i)
        out = []
        for i in deep:
            verdict = self._verdict(i, events[i.id])
            if verdict.ok:
                out.append((i, verdict.filler))
            elif verdict.wait:
                log.info("not settling yet: %s", verdict.reason, extra={"intent": i.id})
            else:
                self.ledger.decide(name, Decision(i.id, "fail", verdict.reason))
        return out

    def _verdict(self, intent: IntentRow, events: list) -> Verdict:
        chain = self.spec.chains[intent.fill_chain]
        first: Verdict | None = None
        for ev in events or [None]:
            header = None if ev is None else self.rpcs[intent.fill_chain].call(
                "eth_getBlockByNumber", [hex(ev.block_number), False])
            v = judge(intent, ev, dest_chain_id=chain.chain_id,
                      dest_settler=self.settlers[intent.fill_chain], header=header)
            if v.ok:
                return v
            first = first or v
        return first

    def _escrows(self, name: str, ids: list[str]) -> list[int]:
        """``escrows(id).status`` of each order on the origin settler, one batch."""
        if not ids:
            return []
        replies = self.rpcs[name].batch([("eth_call", [{"to": self.settlers[name],
                                                        "data": escrow_calldata(i)},
                                                       "latest"]) for i in ids])
        return [decode_escrow_status(r) for r in replies]

    def _estimate(self, name: str, batch: list[tuple[IntentRow, str]]
                  ) -> tuple[list[tuple[IntentRow, str]], int]:
        """Gas for the batch (x ``gas_margin``); if it would revert, drop the orders that
        revert alone (each counts a reverted attempt)."""
        for attempt in range(2):
            data = settle_calldata([i.id for i, _ in batch], [f for _, f in batch])
            try:
                gas = int(self.rpcs[name].call("eth_estimateGas", [{
                    "from": self.account.address, "to": self.settlers[name], "data": data}]), 16)
                return batch, int(gas * self.cfg.gas_margin)
            except RpcError as exc:
                if attempt == 1:
                    log.warning("settle still reverts in simulation", extra={
                        "chain": name, "error": revert_reason(exc)})
                    return [], 0
            good = []
            for intent, filler in batch:
                why = self._simulate(name, intent.id, filler)
                if why is None:
                    good.append((intent, filler))
                elif why.startswith("Unauthorized"):   # the role moved: not the order's fault
                    self.role.pop(name, None)
                    return [], 0
                else:
                    self.ledger.decide(name, Decision(intent.id, "revert",
                                                      f"settle simulation reverts: {why}"))
            batch = good
            if not batch:
                return [], 0
        return [], 0

    def _simulate(self, name: str, intent_id: str, filler: str) -> str | None:
        """Why ``settle([id], [filler])`` reverts now (None: it does not)."""
        try:
            self.rpcs[name].call("eth_call", [{
                "from": self.account.address, "to": self.settlers[name],
                "data": settle_calldata([intent_id], [filler])}, "latest"])
        except RpcError as exc:
            return revert_reason(exc)
        return None

    # ---- refunds (keeper task refund_expired) ---------------------------------------------
    def _refund_round(self) -> int:
        """One refund per idle origin chain, for its oldest expired OPENED intent whose
        escrow is still Opened on chain. ``refund`` is open to anyone; the attester sends
        it because it already has a sender on every origin chain. An intent whose refunds
        reverted ``max_retries`` times is left alone (logged). REFUNDED itself comes from
        the watcher seeing the Refunded event."""
        sent = 0
        for name, sender in self.senders.items():
            try:
                if self._follow(name):
                    continue
                now = int(self.rpcs[name].call("eth_getBlockByNumber",
                                               ["latest", False])["timestamp"], 16)
                with self.store.connection():
                    due = list(IntentRow.select().where(
                        (IntentRow.origin_chain == name) & (IntentRow.status == "OPENED") &
                        (IntentRow.fill_deadline < now)).order_by(IntentRow.fill_deadline)
                        .limit(20))
                for intent, st in zip(due, self._escrows(name, [i.id for i in due])):
                    did = (send_refund(sender, self.settlers[name], intent.id,
                                       self.cfg.max_retries) if st == 1 else "skip")
                    if did != "skip":        # sent, or refused by the node: next run
                        sent += did == "sent"
                        break
            except (RpcUnavailable, RpcError) as exc:
                log.warning("refund round failed on a chain, retried at the next run",
                            extra={"chain": name, "error": str(exc)})
        return sent

    # ---- status -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        chains = {}
        for name, sender in self.senders.items():
            chains[name] = {"role": self.role.get(name, "unchecked") or "ok",
                            "inflight": [(r.nonce, r.tx_hash) for r in sender.pending()]}
        return {"address": self.account.address, "chains": chains,
                "last_round": self.last_round}
