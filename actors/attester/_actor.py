"""``intents/attester``: settles FILLED intents on their origin chain.

Each round (a timer message to itself every ``poll_interval``, or a :class:`Poll` ask),
per origin chain:

1. follow what is in flight (:meth:`Attester._follow`): the chain's
   :class:`~chains.evm.txsend.TxSender` polls receipts (the first time after a start it
   reconciles: recorded-but-unsent bytes are sent, forgotten ones re-sent), replaces stuck
   transactions, and every open batch whose transactions are all final gets its outcome
   applied to its orders (mined -> settled; reverted -> retried up to ``max_retries``
   then FAILED, or skipped if it lost a race; dropped/refused -> back to the queue, and
   after a refusal no new batch on that chain for ``replace_after`` seconds).
   While a transaction of ours is pending on a chain nothing new is sent there;
2. candidates: ``intent`` rows (the book's; read only) with status FILLED on this origin,
   minus the ones this attester already FAILED, holds, or has in flight;
3. each must be at its destination chain's ``settlement_depth`` (head - fill_block), have
   a fill that proves it by the evidence rule in ``chain_event`` (:mod:`._evidence`: the
   escrow's exact originData; none is FAILED, a missing or reorged row waits), and an
   escrow still ``Opened`` on the origin settler (``escrows(id)``; Settled/Refunded ones
   are skipped: never settle twice). An intent to a Solana chain has no depth in blocks:
   its memo-tagged transfers (``solana_transfer``) are re-read at ``finalized``
   (:func:`._evidence.prove_solana_fill`), and ``settle`` pays the filler its escrow names
   (read from ``escrows(id)``: the settler refuses any other for such an order). A fill
   below the winning bid (a shortfall) is held until an operator decides
   (``shortfall_policy: hold``, :class:`DecideShortfall`) or settled and recorded
   (``settle``);
4. up to ``batch_size`` of them go in one ``settle(orderIds, fillers, fillKeys)``: gas estimated
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

Several nodes (one PostgreSQL): the attester runs on every node but settles an origin
chain only while it holds that chain's lease ``attester:<chain>``; for the other chains
it stands by (RPC clients ready, no polling, no sends). On taking a chain over it
reconciles that chain's sender and re-reports its FAILED orders, as after a restart.
Every write of a chain (batch, order decisions, transaction rows) runs in that lease's
``fenced()`` and every broadcast is preceded by its ``check()``: an ex-holder writes and
sends nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from eth_utils import to_checksum_address

from actors.book import IntentRow
from chains.evm import RpcClient, RpcError, RpcUnavailable
from chains.evm.txsend import TX_FAILED, TX_MINED, TX_PENDING, TX_REVERTED, EvmTx
from chains.evm.owner import SenderOwner
from chains.solana import SolanaRpc
from protocol.evidence import Escrow
from actors.alerts import RaiseAlert, raise_alert
from runtime import Actor, LeaseLost, SingletonLease

from ._calls import (ESCROW_STATUS, attester_calldata, decode_escrow, escrow_calldata,
                     revert_reason, settle_calldata)
from ._config import AttesterSpec
from ._evidence import Proof, fill_events, prove_fill, prove_solana_fill, solana_transfers
from ._ledger import Decision, Ledger
from ._messages import AttesterStatus, DecideShortfall, Poll, RefundDue
from ._models import AttesterBatch, AttesterOrder
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
        self.load_account(self.cfg, timeout=self.cfg.rpc_timeout)
        self.store = self.ctx.services.store
        self.rpcs = {n: self.own(RpcClient(c.rpc, timeout=self.cfg.rpc_timeout,
                                           backoff_max=c.rpc_backoff_max))
                     for n, c in spec.chains.items()}
        self.settlers = {n: to_checksum_address(c.contracts.settler)
                         for n, c in spec.chains.items()}
        # Solana destinations: fills re-read at finalized before anything is paid
        self.solana = {n: self.own(SolanaRpc(c.rpc, timeout=self.cfg.rpc_timeout,
                                             backoff_max=c.rpc_backoff_max))
                       for n, c in spec.solana.items()}
        # one lease per origin chain: each chain's settling moves between nodes alone
        self.leases = {n: self.hold_lease(f"attester:{n}") for n in spec.origins}
        self.ledger = Ledger(self.store, self.ctx.registry, self.cfg.max_retries,
                             lambda chain: self.leases[chain].fenced())
        self.build_senders({n: spec.chains[n].chain_id for n in spec.origins}, self.cfg,
                           self.leases.__getitem__)
        self._reconciled: set[str] = set()   # chains whose sender reconciled since start
        self._refused: dict[str, tuple[float, str]] = {}   # chain -> (when, why) refused
        self.role: dict[str, str] = {}       # chain -> "" ok | reason it cannot settle
        self.last_round: dict[str, Any] = {}
        log.info("attester starting", extra={
            "path": self.path, "address": self.account.address, "origins": list(spec.origins),
            "leads": [n for n, lease in self.leases.items() if lease.held]})
        for name in self._held():
            self._rereport(name)
        self.schedule_tick(0.0)

    def lease_changed(self, lease: SingletonLease) -> None:
        """A chain gained: reconcile its sender and re-report at a round now (its state is
        all in the store); lost: its rounds stop at the next fenced write."""
        name = lease.name.split(":", 1)[1]
        if lease.held:
            log.info("attester leads a chain", extra={"path": self.path, "chain": name,
                                                       "epoch": lease.epoch})
            self._reconciled.discard(name)
            self._refused.pop(name, None)
            self._rereport(name)
            self.schedule_tick(0.0)

    def _held(self) -> list[str]:
        return [n for n, lease in self.leases.items() if lease.held]

    def _renew(self) -> None:
        """A round starts by renewing (or trying to take) each chain's lease, as funding
        does: who leads is known before anything is read."""
        for lease in self.leases.values():
            if lease.renew():
                self.lease_changed(lease)

    def _rereport(self, name: str) -> None:
        try:
            self.ledger.rereport(name)
        except LeaseLost:
            pass    # the new holder re-reports

    def handle(self, message: Any) -> Any:
        if self.run_tick(message, self.cfg.poll_interval, self._round):
            return None
        if isinstance(message, Poll):
            return self._round()
        if isinstance(message, RefundDue):
            return self._refund_round()
        if isinstance(message, AttesterStatus):
            return self.status()
        if isinstance(message, DecideShortfall):
            return self.ledger.operator_decision(message.intent_id, message.repay, message.note)
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
        keys = json.loads(batch.fill_keys or "[]") or [""] * len(ids)
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
            for oid, filler, key, st in zip(ids, fillers, keys, self._escrows(name, ids)):
                if st in (2, 3):   # lost a race (refund, another settle): not our failure
                    decisions.append(Decision(oid, "skip", f"settle transaction {row.tx_hash} "
                                                           f"reverted; escrow {ESCROW_STATUS[st]} "
                                                           f"on chain"))
                    continue
                why = self._simulate(name, oid, filler, key) or "out of gas or state changed"
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
        self._renew()
        for name in self.senders:
            if not self.leases[name].held:
                out[name] = {"standby": f"another node holds attester:{name}"}
                continue
            try:
                out[name] = self._settle_chain(name, heads)
            except LeaseLost:
                out[name] = {"standby": f"lease attester:{name} lost"}
                log.warning("attester round stopped on a chain: another node holds its lease",
                            extra={"path": self.path, "chain": name})
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
        batch: list[tuple[IntentRow, Proof]] = []
        waiting, skipped = 0, 0
        ready = self._ready(name, heads)
        escrows = self._escrow_rows(name, [i.id for i, _ in ready])
        for (intent, proof), escrow in zip(ready, escrows):
            st = escrow.status
            if st == 1:
                if intent.destination_chain in self.solana:
                    # An order to Solana repays only the filler named at open: the chain's
                    # word, never the book's row (the Solana transfer names no EVM address).
                    proof = dataclasses.replace(proof, filler=escrow.filler)
                batch.append((intent, proof))
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
        ids, fillers, keys = _columns(batch)
        record = self.ledger.open_batch(name, ids, fillers, keys, gas, self.ctx.clock.wall())
        row = self.senders[name].submit(self.settlers[name], settle_calldata(ids, fillers, keys),
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

    def _ready(self, name: str, heads: dict[str, int]) -> list[tuple[IntentRow, Proof]]:
        """FILLED intents of ``name`` at settlement depth whose fill is proven (none ->
        FAILED; a shortfall held under ``shortfall_policy: hold`` until an operator says)."""
        with self.store.connection():
            intents = list(IntentRow.select().where(
                (IntentRow.status == "FILLED") & (IntentRow.origin_chain == name) &
                IntentRow.id.not_in(self.ledger.excluded()))
                .order_by(IntentRow.fill_block, IntentRow.id).limit(self.cfg.batch_size * 4))
            events: dict[str, list[Any]] = {
                i.id: solana_transfers(i) if i.destination_chain in self.solana else fill_events(i)
                for i in intents}
            repay = {o.intent for o in AttesterOrder.select(AttesterOrder.intent).where(
                AttesterOrder.intent.in_([i.id for i in intents]) &
                (AttesterOrder.decision == "repay"))} if intents else set()
        deep = []
        for i in intents:
            dest = i.destination_chain
            if dest in self.solana:     # finalized is Solana's settlement depth (in _prove)
                deep.append(i)
                continue
            if dest not in self.rpcs:
                log.warning("destination chain not configured", extra={"intent": i.id,
                                                                        "chain": dest})
                continue
            if dest not in heads:
                heads[dest] = int(self.rpcs[dest].call("eth_blockNumber"), 16)
            if heads[dest] - i.fill_block >= self.spec.chains[dest].settle_depth:
                deep.append(i)
        out = []
        for i in deep:
            proof = self._prove(i, events[i.id])
            if proof.ok and proof.shortfall and self.cfg.shortfall_policy == "hold" \
                    and i.id not in repay:
                self._hold(name, i, proof)
            elif proof.ok:
                if proof.shortfall:
                    log.warning("settling a shortfall fill (shortfall_policy: %s)",
                                "repaid by an operator" if i.id in repay else "settle",
                                extra={"intent": i.id, "shortfall": str(proof.shortfall)})
                out.append((i, proof))
            elif proof.wait:
                log.info("not settling yet: %s", proof.reason, extra={"intent": i.id})
            else:
                self.ledger.decide(name, Decision(i.id, "fail", proof.reason))
        return out

    def _prove(self, intent: IntentRow, events: list) -> Proof:
        dest = intent.destination_chain
        if dest in self.solana:
            sol = self.solana[dest]
            try:
                return prove_solana_fill(
                    intent, events, dest_chain_id=int(self.spec.solana[dest].chain_id or 0),
                    transactions=lambda sigs: sol.transactions_at(sigs, commitment="finalized"))
            except (RpcUnavailable, RpcError) as exc:
                # The Solana chain is down or answers garbage: this intent waits, the
                # origin's other settlements go on (the EVM origin is not the one failing).
                return Proof(False, reason=f"{dest} RPC: {exc}", wait=True)
        rpc, headers = self.rpcs[dest], {}

        def header(n: int) -> dict | None:
            if n not in headers:
                headers[n] = rpc.call("eth_getBlockByNumber", [hex(n), False])
            return headers[n]
        return prove_fill(intent, events, dest_chain_id=self.spec.chains[dest].chain_id,
                          dest_settler=self.settlers[dest], header=header)

    def _hold(self, name: str, intent: IntentRow, proof: Proof) -> None:
        """Shortfall, policy hold: not repaid until an operator decides; alert once."""
        why = (f"shortfall: the fill delivered {proof.amount}, {proof.shortfall} below the "
               f"winning bid {intent.awarded_amount}; held until an operator decides "
               f"(AdminService/DecideShortfall {intent.id})")
        self.ledger.decide(name, Decision(intent.id, "hold", why))
        raise_alert(self.ctx.registry, RaiseAlert(
            "settlement_shortfall_held", f"{self.path}/{intent.id}", why,
            labels={"intent": intent.id, "filler": proof.filler, "chain": name}))

    def _escrows(self, name: str, ids: list[str]) -> list[int]:
        """``escrows(id).status`` of each order on the origin settler, one batch."""
        return [e.status for e in self._escrow_rows(name, ids)]

    def _escrow_rows(self, name: str, ids: list[str]) -> list[Escrow]:
        """``escrows(id)`` of each order on the origin settler, one batch (a reply of
        another shape is the node's error: the round ends, retried next round)."""
        if not ids:
            return []
        replies = self.rpcs[name].batch([("eth_call", [{"to": self.settlers[name],
                                                        "data": escrow_calldata(i)},
                                                       "latest"]) for i in ids])
        try:
            return [decode_escrow(r if isinstance(r, str) else "") for r in replies]
        except ValueError as exc:
            raise RpcError(f"escrows() on {name}: {exc}") from None

    def _estimate(self, name: str, batch: list[tuple[IntentRow, Proof]]
                  ) -> tuple[list[tuple[IntentRow, Proof]], int]:
        """Gas for the batch (x ``gas_margin``); if it would revert, drop the orders that
        revert alone (each counts a reverted attempt)."""
        for attempt in range(2):
            data = settle_calldata(*_columns(batch))
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
            for intent, proof in batch:
                why = self._simulate(name, intent.id, proof.filler, proof.fill_key)
                if why is None:
                    good.append((intent, proof))
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

    def _simulate(self, name: str, intent_id: str, filler: str, fill_key: str) -> str | None:
        """Why ``settle([id], [filler], [fill_key])`` reverts now (None: it does not)."""
        if not fill_key:   # a batch recorded before fill keys existed: ask the escrow's
            return "no fill key recorded for this order"
        try:
            self.rpcs[name].call("eth_call", [{
                "from": self.account.address, "to": self.settlers[name],
                "data": settle_calldata([intent_id], [filler], [fill_key])}, "latest"])
        except RpcError as exc:
            return revert_reason(exc)
        return None

    # ---- refunds (keeper task refund_expired) ---------------------------------------------
    def _refund_round(self) -> int:
        """One refund per idle origin chain, for its oldest expired intent whose escrow is
        still Opened on chain: OPENED (never filled, or only by foreign fills), or FILLED
        with its settlement withheld by an operator (a shortfall not repaid). ``refund`` is
        open to anyone; the attester sends it because it already has a sender on every
        origin chain. An intent whose refunds reverted ``max_retries`` times is left alone
        (logged). REFUNDED itself comes from the watcher seeing the Refunded event."""
        sent = 0
        self._renew()
        for name, sender in self.senders.items():
            if not self.leases[name].held:     # the chain's holder refunds there
                continue
            try:
                if self._follow(name):
                    continue
                now = int(self.rpcs[name].call("eth_getBlockByNumber",
                                               ["latest", False])["timestamp"], 16)
                with self.store.connection():
                    withheld = AttesterOrder.select(AttesterOrder.intent).where(
                        AttesterOrder.status == "withheld")
                    due = list(IntentRow.select().where(
                        (IntentRow.origin_chain == name) & (IntentRow.fill_deadline < now) &
                        ((IntentRow.status == "OPENED") |
                         ((IntentRow.status == "FILLED") & IntentRow.id.in_(withheld))))
                        .order_by(IntentRow.fill_deadline).limit(20))
                for intent, st in zip(due, self._escrows(name, [i.id for i in due])):
                    did = (send_refund(sender, self.settlers[name], intent.id,
                                       self.cfg.max_retries) if st == 1 else "skip")
                    if did != "skip":        # sent, or refused by the node: next run
                        sent += did == "sent"
                        break
            except LeaseLost:
                log.warning("refund round stopped on a chain: another node holds its lease",
                            extra={"chain": name})
            except (RpcUnavailable, RpcError) as exc:
                log.warning("refund round failed on a chain, retried at the next run",
                            extra={"chain": name, "error": str(exc)})
        return sent

    # ---- status -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        chains = {}
        for name, sender in self.senders.items():
            chains[name] = {"role": self.role.get(name, "unchecked") or "ok",
                            "leads": self.leases[name].held,
                            "inflight": [(r.nonce, r.tx_hash) for r in sender.pending()]}
        return {"address": self.account.address, "chains": chains,
                "last_round": self.last_round}


def _columns(batch: list[tuple[IntentRow, Proof]]) -> tuple[list[str], list[str], list[str]]:
    """(order ids, fillers, fill keys) of a settle batch."""
    return ([i.id for i, _ in batch], [p.filler for _, p in batch],
            [p.fill_key for _, p in batch])
