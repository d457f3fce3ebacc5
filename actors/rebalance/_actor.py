"""``rebalance/<name>``: keeps one token spread over chains at target weights.

Each round (a timer message to itself every ``poll_interval``, or a :class:`Poll` ask):

1. **follow the move in flight**, if any (there is at most one per strategy, read from
   ``rebalance_move``, so also after a restart):
   - ``planned``: the approve (only if the allowance is short) then the deposit are sent
     through :class:`chains.evm.txsend.TxSender` with ``reference`` = the move id; a move
     whose deposit transaction is already recorded never gets a second one (``find``);
     once the source chain's watcher has indexed our ``BridgeDeposit`` (``chain_event``,
     matched by our transaction hashes) the move is ``deposited`` with its deposit id;
     a reverted/refused/dropped deposit (and no sibling of its nonce alive) ``failed``;
   - ``deposited``/``stuck``: done when the destination's watcher has indexed the
     ``BridgeRelease`` of that deposit id -> ``released``;
   - past ``move_timeout`` without a release -> ``stuck`` and the alert
     ``rebalance_move_stuck`` (raised once; resolved if the release shows up later).
     A stuck move stays in flight: it blocks new moves until it is released or an
     operator settles it (marking the row ``failed``), since its tokens may still land.
2. **otherwise** (nothing in flight, cooldown over) read ``balanceOf`` on every chain,
   :func:`._plan.plan`, and if a move is needed record it (``planned``, or ``dry_run``
   for a dry-run strategy, which sends nothing) BEFORE anything is sent.

Transactions are always record-then-send (the sender's ``evm_tx``), the move row is
always written before them, and the "one move in flight" check and the insert share one
database transaction: a crash at any point resumes the same move, never a second one.

Several nodes (one PostgreSQL): only the holder of lease ``rebalance:<name>`` does rounds;
the others stand by (RPC clients ready, no polling, no sends) and, on taking over,
reconcile and resume the move in flight from the store. Every write (the move, its
updates, the transaction rows) runs in ``singleton.fenced()`` and every broadcast is
preceded by ``singleton.check()``: an ex-holder writes and sends nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any


from chains.evm import RpcClient, RpcError, RpcUnavailable
from chains.evm.txsend import TX_MINED, TX_PENDING, TX_REPLACED, EvmTx
from chains.evm.owner import SenderOwner
from protocol.logs import BridgeDeposit
from actors.alerts import RaiseAlert, raise_alert, resolve_alert
from runtime import Actor, LeaseLost, SingletonLease

from ._bridge import (MAX_UINT256, allowance, approve_data, balance_of, deposit_data,
                      deposit_events, release_event)
from ._config import StrategySpec
from ._models import (DEPOSITED, DRY_RUN, FAILED, IN_FLIGHT, PLANNED, RELEASED, STUCK,
                      RebalanceMove)
from ._plan import Decision, plan

__all__ = ["Strategy", "Poll", "StrategyStatus", "ALERT_STUCK"]

log = logging.getLogger("orbital.rebalance")

ALERT_STUCK = "rebalance_move_stuck"
_APPROVE, _DEPOSIT = "rebalance-approve", "rebalance-deposit"
_MAX_APPROVES = 3


@dataclass(frozen=True)
class Poll:
    """Ask: run one round now; the reply is the :class:`StrategyStatus` dict."""


@dataclass(frozen=True)
class StrategyStatus:
    """Ask: the strategy's live view (what ``AdminService/ListStrategies`` shows)."""


class Strategy(SenderOwner, Actor):
    kind = "rebalance"

    def setup(self) -> None:
        spec: StrategySpec = self.config
        self.spec, self.cfg = spec, spec.config
        self.store = self.ctx.services.store
        self.balances: dict[str, int] = {}
        self.decision: Decision | None = None
        self.last_error, self._reconciled = "", False
        self.singleton: SingletonLease | None = None
        try:
            self.load_account(self.cfg.signer)   # remote: owned, per chain if bound
        except (OSError, ValueError) as exc:      # unreadable keystore, wrong password
            # Not a crash: restarting cannot fix it, and a crash loop would escalate to
            # the whole group. The strategy stays idle and says why (ListStrategies).
            self.signer_error = f"cannot load the inventory signer: {exc}"[:300]
            self.last_error, self.address, self.legs = self.signer_error, "", {}
            self.targets = {leg.chain: leg.target for leg in spec.legs}
            self.rpcs, self.senders = {}, {}
            log.error(self.signer_error, extra={"path": self.path})
            return
        self.signer_error = ""
        self.address = self.account.address
        self.legs = {leg.chain: leg for leg in spec.legs}
        self.targets = {leg.chain: leg.target for leg in spec.legs}
        self.rpcs = {leg.chain: self.own(RpcClient(leg.rpc, timeout=leg.rpc_timeout,
                                                   backoff_max=leg.rpc_backoff_max))
                     for leg in spec.legs}
        # Leased only once it can work: a node whose keystore does not open must not
        # keep the strategy from a node whose does.
        self.singleton = self.hold_lease(f"rebalance:{spec.name}")
        self.build_senders({leg.chain: leg.chain_id for leg in spec.legs}, self.cfg.tx,
                           self.singleton)
        log.info("rebalance strategy starting", extra={
            "path": self.path, "token": self.cfg.token, "address": self.address,
            "dry_run": self.cfg.dry_run, "chains": list(self.legs),
            "leads": self.singleton.held})
        self.schedule_tick(0.0)

    def lease_changed(self, lease: SingletonLease) -> None:
        """Gained: reconcile and follow the move in flight from the store at once (all
        the state there is); lost: the round stops at its next fenced write."""
        if lease.held:
            log.info("rebalance strategy leads", extra={"path": self.path,
                                                        "epoch": lease.epoch})
            self._reconciled = False
            self.schedule_tick(0.0)

    def handle(self, message: Any) -> Any:
        if self.run_tick(message, self.cfg.poll_interval, self._round):
            return None
        if isinstance(message, Poll):
            self._round()
            return self.status()
        if isinstance(message, StrategyStatus):
            return self.status()
        return super().handle(message)


    # ---- a round --------------------------------------------------------------------------
    def _round(self) -> None:
        if self.signer_error:
            return
        assert self.singleton is not None
        if self.singleton.renew():      # who leads, before reading anything (as funding)
            self.lease_changed(self.singleton)
        if not self.singleton.held:     # standby: another node moves
            return
        try:
            if not self._reconciled:      # once per start: what finished while we were down
                for s in self.senders.values():
                    s.reconcile()
                self._reconciled = True
            move = self._in_flight()
            self._read_balances()
            if move is not None:
                self._follow(move)
            elif not self._cooling():
                self._maybe_plan()
            self.last_error = ""
        except LeaseLost:
            log.warning("rebalance round stopped: another node holds the strategy's lease",
                        extra={"path": self.path})
        except (RpcUnavailable, RpcError) as exc:
            self.last_error = str(exc)[:500]
            log.warning("rebalance round failed, retrying next round",
                        extra={"path": self.path, "error": self.last_error})

    def _read_balances(self) -> None:
        self.balances = {c: balance_of(self.rpcs[c], leg.token, self.address)
                         for c, leg in self.legs.items()}
        self.decision = plan(self.balances, self.targets, self.cfg.tolerance,
                             min_units=self.spec.min_units, max_units=self.spec.max_units)

    def _maybe_plan(self) -> None:
        d = self.decision
        if d is None or d.move is None:
            return
        m = d.move
        row = self._record(m.from_chain, m.to_chain, m.amount, d.reason)
        if row is None or row.status == DRY_RUN:
            return
        self._follow(row)

    def _record(self, src: str, dst: str, amount: int, reason: str) -> RebalanceMove | None:
        """The move row, committed before anything is sent; None if one is in flight."""
        now = self.ctx.clock.wall()
        dry = self.cfg.dry_run
        with self._fenced():
            if self._in_flight_query().exists():
                return None
            row = RebalanceMove.create(
                id=f"{self.spec.name}-{uuid.uuid4().hex[:16]}", strategy=self.spec.name,
                token=self.cfg.token, from_chain=src, to_chain=dst, amount=amount,
                sender=self.address, status=DRY_RUN if dry else PLANNED, reason=reason,
                created_at=now, finished_at=now if dry else None, updated_at=time.time())
        log.info("rebalance move %s", "planned (dry run)" if dry else "planned", extra={
            "path": self.path, "move": row.id, "from": src, "to": dst, "amount": amount,
            "reason": reason})
        return row

    # ---- following a move -----------------------------------------------------------------
    def _follow(self, move: RebalanceMove) -> None:
        if move.status == PLANNED:
            self._advance_planned(move)
        elif move.status == STUCK and not move.deposit_id:
            self._follow_deposit(move)         # timed out before its deposit was indexed
        if move.status in (DEPOSITED, STUCK) and move.deposit_id:
            with self.store.connection():
                ev = release_event(move.to_chain, move.deposit_id)
            if ev is not None and ev.address.lower() == self.legs[move.to_chain].bridge.lower():
                was_stuck = move.status == STUCK
                self._update(move, status=RELEASED, release_tx=ev.tx_hash,
                             finished_at=self.ctx.clock.wall())
                log.info("rebalance move released", extra={
                    "path": self.path, "move": move.id, "release_tx": ev.tx_hash})
                if was_stuck and move.alerted:
                    resolve_alert(self.ctx.registry, ALERT_STUCK, self.path)
                return
        if move.status in (PLANNED, DEPOSITED) and \
                self.ctx.clock.wall() - move.created_at > self.cfg.move_timeout:
            self._update(move, status=STUCK, reason=f"no release after "
                                                    f"{self.cfg.move_timeout:g}s")
            log.warning("rebalance move stuck", extra={"path": self.path, "move": move.id})
        if move.status == STUCK and not move.alerted:
            ok = raise_alert(self.ctx.registry, RaiseAlert(
                ALERT_STUCK, self.path,
                f"move {move.id}: {move.amount} {move.token} {move.from_chain} -> "
                f"{move.to_chain} not released after {self.cfg.move_timeout:g}s "
                f"(deposit {move.deposit_id or 'not seen yet'})", "warning",
                {"strategy": self.spec.name, "move": move.id, "from": move.from_chain,
                 "to": move.to_chain, "deposit_id": move.deposit_id}))
            if ok:
                self._update(move, alerted=True)

    def _advance_planned(self, move: RebalanceMove) -> None:
        sender, leg = self.senders[move.from_chain], self.legs[move.from_chain]
        sender.poll()
        sender.replace_stuck(self.ctx.clock.wall())
        rows = sender.find(move.id)
        deposits = [r for r in rows if r.purpose == _DEPOSIT]
        if deposits:
            self._check_deposit(move, deposits)
            return
        approves = [r for r in rows if r.purpose == _APPROVE]
        if any(r.status == TX_PENDING for r in approves):
            return                                   # wait for the approve's receipt
        have = allowance(self.rpcs[move.from_chain], leg.token, self.address, leg.bridge)
        if have < move.amount:
            if any(r.status == TX_MINED for r in approves):
                self._fail(move, f"allowance {have} still below {move.amount} after approve")
                return
            if len(approves) >= _MAX_APPROVES:    # each refused/reverted/dropped
                last = approves[-1]
                self._fail(move, f"approve failed {len(approves)} times; last "
                                 f"{last.tx_hash} {last.status}: {last.error}")
                return
            sender.submit(leg.token, approve_data(leg.bridge, MAX_UINT256), reference=move.id,
                          purpose=_APPROVE)
            return
        dest = self.legs[move.to_chain]
        data = deposit_data(leg.token, move.amount, dest.chain_id, self.address)
        try:
            row = sender.submit(leg.bridge, data, gas=self.cfg.gas_limit or None,
                                reference=move.id, purpose=_DEPOSIT)
        except RpcError as exc:                     # the estimate reverts: nothing recorded
            self._fail(move, f"deposit would revert: {exc.message}")
            return
        log.info("rebalance deposit sent", extra={"path": self.path, "move": move.id,
                                                  "tx": row.tx_hash, "status": row.status})
        self._check_deposit(move, [row])

    def _follow_deposit(self, move: RebalanceMove) -> None:
        """Follow the deposit transactions already recorded; never sends a new one."""
        sender = self.senders[move.from_chain]
        sender.poll()
        sender.replace_stuck(self.ctx.clock.wall())
        deposits = [r for r in sender.find(move.id) if r.purpose == _DEPOSIT]
        if deposits:
            self._check_deposit(move, deposits)

    def _check_deposit(self, move: RebalanceMove, deposits: list[EvmTx]) -> None:
        with self.store.connection():
            events = deposit_events(move.from_chain, [r.tx_hash for r in deposits])
        bridge = self.legs[move.from_chain].bridge.lower()
        ours = [e for e in events if e.address.lower() == bridge
                and isinstance(e.event, BridgeDeposit)
                and e.event.sender.lower() == self.address.lower()]
        if ours:
            ev = ours[0]
            self._update(move, status=STUCK if move.status == STUCK else DEPOSITED,
                         deposit_id=ev.order_id,
                         deposit_tx=ev.tx_hash, deposited_at=self.ctx.clock.wall())
            log.info("rebalance deposit seen by the watcher", extra={
                "path": self.path, "move": move.id, "deposit_id": ev.order_id})
            return
        alive = [r for r in deposits if r.status in (TX_PENDING, TX_MINED, TX_REPLACED)]
        if not alive:
            last = deposits[-1]
            self._fail(move, f"deposit {last.tx_hash} {last.status}: {last.error}".strip())

    def _fail(self, move: RebalanceMove, reason: str) -> None:
        self._update(move, status=FAILED, reason=reason, finished_at=self.ctx.clock.wall())
        log.warning("rebalance move failed: %s", reason, extra={"path": self.path,
                                                                "move": move.id})
        if move.alerted:                      # the stuck move is over: so is its alert
            resolve_alert(self.ctx.registry, ALERT_STUCK, self.path)

    # ---- store ----------------------------------------------------------------------------
    def _leads(self) -> bool:
        return self.singleton is not None and self.singleton.held

    def _fenced(self) -> Any:
        """The transaction of every write: fenced by the strategy's lease."""
        assert self.singleton is not None, "no writes without a signer"
        return self.singleton.fenced()

    def _in_flight_query(self):
        return RebalanceMove.select().where((RebalanceMove.strategy == self.spec.name) &
                                            RebalanceMove.status.in_(IN_FLIGHT))

    def _in_flight(self) -> RebalanceMove | None:
        with self.store.connection():
            return self._in_flight_query().order_by(RebalanceMove.created_at).first()

    def _cooling(self) -> bool:
        return self._cooldown_left() > 0

    def _cooldown_left(self) -> float:
        if self.cfg.cooldown <= 0:
            return 0.0
        with self.store.connection():
            last = (RebalanceMove.select(RebalanceMove.finished_at)
                    .where((RebalanceMove.strategy == self.spec.name) &
                           RebalanceMove.finished_at.is_null(False))
                    .order_by(RebalanceMove.finished_at.desc()).first())
        if last is None:
            return 0.0
        return max(0.0, last.finished_at + self.cfg.cooldown - self.ctx.clock.wall())

    def _update(self, move: RebalanceMove, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        with self._fenced():
            RebalanceMove.update(**fields).where(RebalanceMove.id == move.id).execute()
        for k, v in fields.items():
            setattr(move, k, v)

    # ---- status ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self.store.connection():
            moving = list(self._in_flight_query().order_by(RebalanceMove.created_at))
            history = list(RebalanceMove.select().where(
                (RebalanceMove.strategy == self.spec.name) &
                RebalanceMove.status.not_in(IN_FLIGHT))
                .order_by(RebalanceMove.created_at.desc()).limit(self.cfg.history))
        d = self.decision
        state = ("error" if self.last_error else "standby" if not self._leads() else
                 "moving" if moving else
                 "cooldown" if self._cooling() else "ok")
        return {"name": self.spec.name, "token": self.cfg.token, "dry_run": self.cfg.dry_run,
                "address": self.address, "tolerance": self.cfg.tolerance,
                "balances": dict(self.balances), "targets": dict(self.targets),
                "weights": dict(d.weights) if d else {}, "in_band": bool(d and d.in_band),
                "reason": d.reason if d else "", "in_flight": moving, "history": history,
                "state": state, "last_error": self.last_error}
