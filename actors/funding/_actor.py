"""``funding/<name>``: keeps one account's balance of one asset above a minimum.

Each round (a clock timer every ``poll_interval``, or a :class:`Poll` ask):

1. the sender reconciles (first round after a start: re-sends recorded-but-unsent
   transactions), collects receipts and replaces stuck transactions;
2. each open need (``funding_topup`` row not final) follows its transactions, found by
   the need's reference: mined -> confirmed; pending -> sent; all refused, reverted or
   dropped -> failed (its amount no longer counts against the cap). A need with NO
   transaction is one recorded just before a crash: the balance is read again and it is
   sent now (or cancelled if the balance is back above the minimum);
3. balances are read (the account, and the source's asset and native balances);
4. with no need open, a balance below ``min_balance``, no cooldown running and daily cap
   left, a need of ``min(target - balance, max_per_top_up, cap left)`` is recorded
   (committed) and only then signed and sent through :class:`chains.evm.TxSender`.

Hence one need never becomes two transfers, whatever the crash point: the need row is
there before anything is signed, and the transaction row (with the need's reference)
before anything is broadcast. The cap is a rolling 24 h sum of needs that may move funds,
checked when a need is recorded, so no sequence of drains exceeds it. Alerts (via
``actors.alerts.raise_alert``): ``funding_daily_cap_reached`` when a top-up is cut or refused by
the cap, ``funding_source_low`` when the source cannot pay (asset or gas) or holds less
than ``source.low_balance``, ``funding_topup_failed`` when a top-up's transaction fails
(its gas estimate reverts, it is refused, reverts or is dropped); each is resolved when its
cause is gone (a top-up confirmed, or the balance back above the minimum).

A need may take several transactions (an allowance account with ``reset_to_zero``:
approve(0), then approve(target)): they are recorded together as one step
(:meth:`TxSender.submit_all`), and the need is confirmed when every one of them is mined.

Several nodes (one PostgreSQL): the account runs on every node, but only the holder of
lease ``funding:<name>`` does rounds; the others stand by (RPC client ready, no polling,
no sends) and, on taking the lease over, reload the account's state from the store and
reconcile first, as after a crash. Every write (need, tx row, need update, account row)
runs in ``singleton.fenced()``, and every broadcast is preceded by ``singleton.check()``
(the TxSender's fence): an ex-holder that resumes after its lease moved writes and sends
nothing, and stands by.

Test seam: :attr:`FundingAccount.on_step` is called with ``"need_recorded"`` (need row
committed, nothing signed), ``"tx_recorded"`` (transaction row committed, not broadcast)
and ``"tx_sent"`` (broadcast, need row not updated yet); a test raises from it to crash the
actor exactly there (the supervisor restarts it; the new instance must finish the job).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from eth_abi import encode as abi_encode
from eth_utils import keccak

from chains.evm import RpcClient, RpcError, RpcUnavailable
from chains.evm.txsend import TX_FAILED, TX_MINED, TX_PENDING, TxCall, TxSender, suggest_fees
from actors.alerts import RaiseAlert, raise_alert, resolve_alert
from runtime import Actor, LeaseLost, SingletonLease

from ._config import AccountSpec, SourceConfig
from ._metrics import FundingMetrics
from ._messages import (ALERT_CAP, ALERT_FAILED, ALERT_SOURCE, FundingStatus, Poll, Status,
                        TopUpView)
from ._models import (COUNTED, NEED_CANCELLED, NEED_CONFIRMED, NEED_FAILED, NEED_RECORDED,
                      NEED_SENT, OPEN, AccountRow, TopUpRow, recent, used_today)

__all__ = ["Balances", "FundingAccount", "load_signer", "view"]

log = logging.getLogger("orbital.funding")

_TRANSFER = keccak(text="transfer(address,uint256)")[:4]
_BALANCE_OF = keccak(text="balanceOf(address)")[:4]
_GAS_NATIVE, _GAS_TOKEN = 21_000, 100_000   # for the source's gas check only


def load_signer(source: SourceConfig):
    """The source's signer: its key or keystore (registered as secrets), or a remote
    signer (chains.evm.signer)."""
    return source.signer()


def view(row: TopUpRow) -> TopUpView:
    return TopUpView(row.id, row.amount, row.tx_hash, row.status, row.created_at,
                     row.confirmed_at, row.reason)


class Balances(NamedTuple):
    """One round's reading: the account's balance, the source's in the asset and in gas."""

    balance: int
    source_balance: int
    source_native: int


class FundingAccount(Actor):
    kind = "funding"
    on_step: Callable[[str, Any], None] | None = None   # test seam, see module doc

    _reconciled: bool
    # the sender's statuses of a transaction that moved the funds / is still under way
    _done_status, _pending_status = TX_MINED, TX_PENDING

    def setup(self) -> None:
        spec: AccountSpec = self.config
        self.spec, self.name = spec, spec.name
        self.store = self.ctx.services.store
        self.gauges = FundingMetrics(self.ctx.services.metrics)
        self._connect()
        self.sender.after_record = lambda row: self._step("tx_recorded")
        log.info("funding account starting", extra={
            "path": self.path, "chain": spec.chain_name, "address": spec.config.address,
            "asset": spec.asset, "source": self.source, "leads": self.singleton.held})
        self._load()
        self.schedule_tick(0.0)

    def _connect(self) -> None:
        """The chain's part of setup: signer, RPC client, lease and transaction sender."""
        spec = self.spec
        self.account = load_signer(spec.config.source)
        self.source = self.account.address
        self.rpc = self.own(RpcClient(spec.rpc, timeout=spec.rpc_timeout,
                                      backoff_max=spec.rpc_backoff_max))
        self.singleton = self.hold_lease(f"funding:{self.name}")
        self.sender = self.own(TxSender(spec.chain_name, spec.chain_id, self.rpc, self.account,
                                        self.store, self.path, spec.tx,
                                        clock=self.ctx.clock.wall, fence=self.singleton))

    def _follow_sender(self, now: float) -> None:
        """Step 1 of a round: the sender's own bookkeeping (receipts, stuck transactions)."""
        if not self._reconciled:
            self.sender.reconcile()
            self._reconciled = True
        self.sender.poll()
        self.sender.replace_stuck(now)

    def _load(self) -> None:
        """State from the store: at start, and again on taking the lease over (the last
        holder's balances and firing alerts), with a reconcile at the next round."""
        spec = self.spec
        self.balance: int | None = None
        self.source_balance: int | None = None
        self.source_native: int | None = None
        self.state = "starting" if self.singleton.held else "standby"
        self.last_error = ""
        self.firing: set[str] = set()
        with self.store.connection():
            row = AccountRow.get_or_none(AccountRow.name == self.name)
        if row is not None:
            self.firing = {a for a in row.alerts.split(",") if a}
            if (row.chain, row.address.lower(), row.asset) == \
                    (spec.chain_name, spec.config.address.lower(), spec.asset):
                self.balance, self.source_balance = row.balance, row.source_balance
        self._reconciled = False

    def lease_changed(self, lease: SingletonLease) -> None:
        if lease.held:
            log.info("funding account leads: reloading its state", extra={
                "path": self.path, "epoch": lease.epoch})
            self._load()
            self.schedule_tick(0.0)
        else:
            self.state = "standby"

    def handle(self, message: Any) -> Any:
        if self.run_tick(message, self.spec.config.poll_interval, self._round):
            return None
        if isinstance(message, Poll):
            return self._round()
        if isinstance(message, Status):
            return self.status()
        return super().handle(message)


    def _step(self, name: str) -> None:
        hook = type(self).on_step
        if hook is not None:
            hook(name, self)

    # ---- a round ------------------------------------------------------------------------
    def _round(self) -> FundingStatus:
        # A round starts by renewing (or trying to take) the lease: it knows who leads
        # before reading anything, and a lease that lapsed while no one else wanted it
        # (an actor on a test's fake clock, whose lease timer does not run) is taken back.
        if self.singleton.renew():
            self.lease_changed(self.singleton)
        if not self.singleton.held:      # another node does this account's rounds
            self.state = "standby"
            return self.status()
        now = self.ctx.clock.wall()
        try:
            self._follow_sender(now)
            balances = self._read_balances()
            self.gauges.read(self.spec, balances.balance)
            self._follow_needs(now)
            self._decide(now, balances)
        except LeaseLost:
            self.state = "standby"
            log.warning("funding round stopped: another node holds the account's lease",
                        extra={"path": self.path})
            return self.status()
        except (RpcUnavailable, RpcError) as exc:
            self.state, self.last_error = "error", str(exc)[:300]
            log.warning("funding round failed, retrying next round",
                        extra={"path": self.path, "error": self.last_error})
        try:
            self._save(now)
        except LeaseLost:
            self.state = "standby"
        return self.status()

    def _read_balances(self) -> Balances:
        """This round's balances (also kept on the actor for its status)."""
        cfg, token = self.spec.config, self.spec.token
        calls: list[tuple[str, list]] = [("eth_getBalance", [self.source, "latest"])]
        if token is None:
            calls.append(("eth_getBalance", [cfg.address, "latest"]))
        else:
            for who in (cfg.address, self.source):
                data = "0x" + (_BALANCE_OF + abi_encode(["address"], [who])).hex()
                calls.append(("eth_call", [{"to": token.address, "data": data}, "latest"]))
        out = [int(v, 16) if v not in (None, "0x") else 0 for v in self.rpc.batch(calls)]
        b = Balances(balance=out[1], source_balance=out[0] if token is None else out[2],
                     source_native=out[0])
        self.balance, self.source_balance, self.source_native = b
        return b

    def _follow_needs(self, now: float) -> None:
        with self.store.connection():
            needs = list(TopUpRow.select().where((TopUpRow.account == self.name)
                                                 & TopUpRow.status.in_(OPEN))
                         .order_by(TopUpRow.id))
        for need in needs:
            txs = self.sender.find(need.reference)
            if not txs:
                # recorded, then a crash before anything was signed
                if self.balance is not None and self.balance >= self.spec.min_balance:
                    self._update(need, status=NEED_CANCELLED,
                                 reason="not sent: balance back above min_balance")
                else:
                    self._send(need)
                continue
            # One group per transaction of the need's step (an EVM nonce: a replacement is
            # the same transaction; a Solana rebuild too, so Solana rows are one group)
            groups: dict[Any, list] = {}
            for t in txs:
                groups.setdefault(getattr(t, "nonce", None), []).append(t)
            done = [next((t for t in g if t.status == self._done_status), None)
                    for _, g in sorted(groups.items(), key=lambda kv: kv[1][0].id)]
            pending = [t for t in txs if t.status == self._pending_status]
            if all(t is not None for t in done):
                last = done[-1]
                assert last is not None
                self._update(need, status=NEED_CONFIRMED, tx_hash=last.tx_hash,
                             confirmed_at=last.finished_at or now,
                             sent_at=need.sent_at or last.sent_at)
                log.info("top-up confirmed", extra={"path": self.path, "amount": need.amount,
                                                    "tx": last.tx_hash})
                self._resolve(ALERT_FAILED)
            elif pending:
                newest = pending[-1]
                if need.status != NEED_SENT or need.tx_hash != newest.tx_hash:
                    self._update(need, status=NEED_SENT, tx_hash=newest.tx_hash,
                                 sent_at=need.sent_at or newest.sent_at or now)
            else:
                last = next((t for t in txs if t.status != self._done_status), txs[-1])
                reason = f"transaction {last.status}: {last.error}"[:500]
                self._update(need, status=NEED_FAILED, tx_hash=last.tx_hash, reason=reason)
                log.warning("top-up failed", extra={"path": self.path, "tx": last.tx_hash,
                                                    "status": last.status, "error": last.error})
                self._failed(need, reason)

    def _decide(self, now: float, b: Balances) -> None:
        spec = self.spec
        with self.store.connection():
            open_needs = TopUpRow.select().where((TopUpRow.account == self.name)
                                                 & TopUpRow.status.in_(OPEN)).count()
            used = used_today(self.name, now)
            last = (TopUpRow.select(TopUpRow.created_at)
                    .where((TopUpRow.account == self.name)
                           & TopUpRow.status.in_((*COUNTED, NEED_FAILED)))
                    .order_by(TopUpRow.created_at.desc()).first())
        remaining = max(0, spec.daily_cap - used)
        self._check_source_threshold()
        self.last_error = ""
        if open_needs:
            self.state = "topping_up"
            return
        if b.balance >= spec.min_balance:
            self.state = "ok"
            self._resolve(ALERT_FAILED)
            if remaining > 0:
                self._resolve(ALERT_CAP)
            if b.source_balance >= spec.source_low:
                self._resolve(ALERT_SOURCE)
            return
        if last is not None and now - last.created_at < spec.config.cooldown:
            self.state = "cooldown"
            return
        wanted = spec.target_balance - b.balance
        if remaining <= 0:
            self.state = "capped"
            self._alert(ALERT_CAP, f"daily cap of {spec.daily_cap} reached: no top-up of "
                                   f"{wanted} for {spec.config.address} "
                                   f"(balance {b.balance} < min {spec.min_balance})")
            return
        amount = min(wanted, spec.max_per_top_up, remaining)
        short = self._source_short(amount, b)
        if short:
            self.state, self.last_error = "source_low", short
            self._alert(ALERT_SOURCE, short)
            return
        if b.source_balance >= spec.source_low:
            self._resolve(ALERT_SOURCE)
        with self.singleton.fenced():
            need = TopUpRow.create(account=self.name, chain=spec.chain_name,
                                   address=spec.config.address, asset=spec.asset,
                                   amount=amount, balance_before=b.balance,
                                   status=NEED_RECORDED, created_at=now, updated_at=time.time())
        log.info("top-up recorded", extra={"path": self.path, "need": need.id,
                                           "amount": amount, "balance": b.balance})
        self._step("need_recorded")
        self._send(need)
        self.state = "topping_up"
        if amount < min(wanted, spec.max_per_top_up):
            self._alert(ALERT_CAP, f"daily cap of {spec.daily_cap} reached: top-up cut to "
                                   f"{amount} of {wanted} wanted")

    def _source_short(self, amount: int, b: Balances) -> str:
        """Why the source cannot pay ``amount`` (+ gas), or ""."""
        fees = suggest_fees(self.rpc, self.spec.tx)
        native = self.spec.token is None
        gas = math.ceil(fees.max_fee * (_GAS_NATIVE if native else _GAS_TOKEN)
                        * self.spec.tx.gas_margin)      # what the node reserves for gas
        if native and b.source_native < amount + gas:
            return (f"source {self.source} holds {b.source_native} wei, a top-up of "
                    f"{amount} needs {amount + gas} with gas")
        if not native and b.source_balance < amount:
            return (f"source {self.source} holds {b.source_balance} "
                    f"{self.spec.asset}, a top-up needs {amount}")
        if not native and b.source_native < gas:
            return f"source {self.source} holds {b.source_native} wei, gas needs {gas}"
        return ""

    def _check_source_threshold(self) -> None:
        if self.source_balance is not None and self.source_balance < self.spec.source_low:
            self._alert(ALERT_SOURCE, f"source {self.source} holds {self.source_balance} "
                                      f"{self.spec.asset}, below low_balance "
                                      f"{self.spec.source_low}")

    def _transaction(self, need: TopUpRow) -> tuple[str, bytes, int]:
        """(to, data, value) of the transaction that meets ``need``: a transfer of its
        amount from the source (an allowance account approves instead: ._allowance)."""
        spec = self.spec
        if spec.token is None:
            return spec.config.address, b"", need.amount
        return spec.token.address, _TRANSFER + abi_encode(
            ["address", "uint256"], [spec.config.address, need.amount]), 0

    def _transactions(self, need: TopUpRow) -> list[TxCall]:
        """The transactions that meet ``need``, sent as one step: :meth:`_transaction`
        (an allowance account may need two: ._allowance)."""
        return [TxCall(*self._transaction(need))]

    def _send(self, need: TopUpRow) -> None:
        try:
            rows = self.sender.submit_all(self._transactions(need), need.reference,
                                          purpose="top-up")
        except RpcError as exc:     # a gas estimate reverted: nothing was signed
            reason = f"estimate failed: {exc}"[:500]
            self._update(need, status=NEED_FAILED, reason=reason)
            log.warning("top-up not sent", extra={"path": self.path, "error": str(exc)})
            self._failed(need, reason)
            return
        self._step("tx_sent")
        refused = next((r for r in rows if r.status == TX_FAILED), None)
        if refused is None:
            self._update(need, status=NEED_SENT, tx_hash=rows[-1].tx_hash,
                         sent_at=rows[-1].sent_at or rows[0].sent_at)
        else:
            reason = f"refused: {refused.error}"[:500]
            self._update(need, status=NEED_FAILED, tx_hash=refused.tx_hash, reason=reason)
            self._failed(need, reason)

    def _failed(self, need: TopUpRow, reason: str) -> None:
        """A need failed (nothing moved): alert, until a top-up is confirmed or the balance
        is back above the minimum."""
        self._alert(ALERT_FAILED, f"top-up {need.id} of {need.amount} for "
                                  f"{self.spec.config.address} failed: {reason}")

    # ---- alerts, store, status ----------------------------------------------------------
    def _alert(self, name: str, message: str) -> None:
        if name in self.firing:
            return
        labels = {"account": self.name, "chain": self.spec.chain_name,
                  "address": self.spec.config.address, "asset": self.spec.asset}
        severity = "critical" if name == ALERT_SOURCE else "warning"
        if raise_alert(self.ctx.registry, RaiseAlert(name, self.path, message, severity,
                                                     labels)):
            self.firing.add(name)
        log.warning("alert: %s", name, extra={"path": self.path, "detail": message})

    def _resolve(self, name: str) -> None:
        if name in self.firing and resolve_alert(self.ctx.registry, name, self.path):
            self.firing.discard(name)

    def _update(self, need: TopUpRow, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        with self.singleton.fenced():
            TopUpRow.update(**fields).where(TopUpRow.id == need.id).execute()
        for k, v in fields.items():
            setattr(need, k, v)

    def _save(self, now: float) -> None:
        spec = self.spec
        row = dict(chain=spec.chain_name, address=spec.config.address, asset=spec.asset,
                   source=self.source, balance=self.balance, source_balance=self.source_balance,
                   state=self.state, last_error=self.last_error,
                   alerts=",".join(sorted(self.firing)), updated_at=now)
        with self.singleton.fenced():
            if AccountRow.update(**row).where(AccountRow.name == self.name).execute() == 0:
                AccountRow.create(name=self.name, **row)

    def status(self) -> FundingStatus:
        spec = self.spec
        with self.store.connection():
            used = used_today(self.name, self.ctx.clock.wall())
            tops = tuple(view(r) for r in recent(self.name, spec.history))
        return FundingStatus(
            name=self.name, chain=spec.chain_name, address=spec.config.address,
            asset=spec.asset, balance=self.balance, min_balance=spec.min_balance,
            target_balance=spec.target_balance, remaining_cap=max(0, spec.daily_cap - used),
            state=self.state, last_error=self.last_error, top_ups=tops, source=self.source,
            source_balance=self.source_balance)
