"""``chains/relayer``: the devnet Bridge's relayer (kind ``bridge_relayer``).

For every ``BridgeDeposit`` the chain watchers indexed (``chain_event``) on a chain with a
bridge, towards another configured chain, without a ``BridgeRelease`` of that deposit id
indexed on the destination, it calls ``release(depositId, token, amount, recipient,
originChainId)`` on the destination's bridge with the relayer key
(``${ORBITAL_RELAYER_KEY:-}``; devnet account 1 holds the role). Empty key: not started
(logged).

Settled deposits only: a deposit is released once its block is the origin chain's
``settlement_depth`` blocks deep (``head - deposit_block >= settlement_depth``, that chain's
:class:`~chains.evm.config.ChainConfig`) AND that block's hash is still the one the watcher
indexed (``eth_getBlockByNumber(deposit_block).hash == chain_event.block_hash``); until
then it waits (nothing recorded, no attempt counted). Why both, and why it matters more
than "the deposit might vanish": a deposit id is ``keccak(chainId, bridge, depositCount)``,
so after a reorg a *different* deposit (other sender, recipient or amount) can take the
same id. Releasing the reorged-away deposit would pay its recipient for tokens the origin
bridge no longer holds, and the new deposit with that id could then never be released
(``AlreadyReleased``): a double release (liquidity paid out for a deposit that does not
exist) and a real deposit stuck. The depth makes
such a reorg as unlikely as the chain's practical finality (docs/chain-watcher.md,
"Depths"); the hash check catches a row the watcher has not yet rolled back (it polls, so
it can trail the chain by a tick).

Idempotent, also across restarts:

- before a release is sent, the chain is asked ``released(depositId)``; true -> the
  deposit is marked released, nothing is sent;
- transactions go through :class:`chains.evm.txsend.TxSender` (recorded before their
  broadcast, ``reference`` = the deposit id): while one of its transactions for a deposit
  is pending or mined, no other is made; a recorded one is re-sent after a restart, not
  re-made;
- ``bridge_relay`` remembers per deposit what was decided (sent, released, skipped,
  failed after ``max_retries`` reverted attempts) so finished deposits are not looked at
  again.

Several nodes (one PostgreSQL): only the holder of lease ``relayer`` does rounds; the
others stand by (RPC clients ready, no polling, no sends) and, on taking over, reconcile
first (what the last holder recorded is followed, not re-made). Every write (a relay
record, a transaction row) runs in ``singleton.fenced()`` and every broadcast is preceded
by ``singleton.check()``: an ex-holder writes and sends nothing.

Why under ``chains`` (not root): it is chain infrastructure next to the watchers whose
tables it reads, it shares their failure mode (RPC outages) and their group's restart
intensity and backoff; a crash loop here must exhaust the ``chains`` group's budget, not
the root's (which would stop the node).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from actors.rebalance import is_released, release_data
from chains.directory import Directory, UnknownName
from chains.evm import RpcClient, RpcError, RpcUnavailable
from chains.evm.models import ChainEvent
from chains.evm.owner import SenderOwner
from chains.evm.txsend import TX_MINED, TX_PENDING, TX_REVERTED
from protocol.logs import BridgeDeposit
from runtime import Actor, LeaseLost, SingletonLease

from ._config import RelayerSpec
from ._models import DONE, BridgeRelay

__all__ = ["BridgeRelayer", "RelayPoll", "wait_reason", "SHALLOW", "REORGED", "PATH"]

log = logging.getLogger("orbital.bridge_relayer")

PATH = "relayer"       # child id in the chains group -> actor path chains/relayer
_PURPOSE = "bridge-release"
SHALLOW = "shallow"    # its block is not settlement_depth deep yet
REORGED = "reorged"    # its block is no longer canonical: the watcher will roll the row back


@dataclass(frozen=True)
class RelayPoll:
    """Ask: run one round now; the reply is {deposit_id: what was done}."""


class BridgeRelayer(SenderOwner, Actor):
    kind = "bridge_relayer"

    def setup(self) -> None:
        spec: RelayerSpec = self.config
        self.cfg = spec.config
        self.load_account(self.cfg)
        self.store = self.ctx.services.store
        self.chains = spec.chains
        self.directory = Directory(spec.chains)
        self.by_id = {c.chain_id: n for n, c in spec.chains.items()}
        self.bridges = {n: to_checksum_address(c.contracts.bridge)
                        for n, c in spec.chains.items()}
        self.rpcs = {n: self.own(RpcClient(c.rpc, timeout=c.rpc_timeout,
                                           backoff_max=c.rpc_backoff_max))
                     for n, c in spec.chains.items()}
        self.singleton = self.hold_lease("relayer")
        self.build_senders({n: c.chain_id for n, c in spec.chains.items()}, self.cfg.tx,
                           self.singleton)
        self._reconciled = False
        log.info("bridge relayer starting", extra={"path": self.path,
                                                   "address": self.account.address,
                                                   "chains": sorted(self.chains),
                                                   "leads": self.singleton.held})
        self.schedule_tick(0.0)

    def lease_changed(self, lease: SingletonLease) -> None:
        """Gained: reconcile at a round now (all state is in the store)."""
        if lease.held:
            log.info("bridge relayer leads", extra={"path": self.path, "epoch": lease.epoch})
            self._reconciled = False
            self.schedule_tick(0.0)

    def handle(self, message: Any) -> Any:
        if self.run_tick(message, self.cfg.poll_interval, self._round):
            return None
        if isinstance(message, RelayPoll):
            return self._round()
        return super().handle(message)


    # ---- a round ----------------------------------------------------------------------------
    def _round(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.singleton.renew():        # who leads, before reading anything (as funding)
            self.lease_changed(self.singleton)
        if not self.singleton.held:       # standby: another node relays
            return {"standby": "another node holds the relayer lease"}
        try:
            for s in self.senders.values():
                s.reconcile() if not self._reconciled else s.poll()
            self._reconciled = True
            sent = 0
            candidates = self._candidates()
            waiting = self._unsettled(candidates)
            for ev in candidates:
                if ev.id in waiting:
                    out[_deposit_id(ev)] = waiting[ev.id]
                    continue
                did = self._relay(ev, budget=sent < self.cfg.batch_size)
                out[_deposit_id(ev)] = did
                sent += did == "sent"
        except LeaseLost:
            out["standby"] = "lease lost: another node relays"
            log.warning("relayer round stopped: another node holds the relayer lease",
                        extra={"path": self.path})
        except (RpcUnavailable, RpcError) as exc:
            out["error"] = str(exc)[:300]
            log.warning("relayer round failed, retrying next round",
                        extra={"path": self.path, "error": str(exc)[:300]})
        return out

    def _candidates(self) -> list[ChainEvent]:
        """Indexed deposits on our bridges without an indexed release nor a final decision."""
        with self.store.connection():
            released = ChainEvent.select(ChainEvent.order_id).where(
                ChainEvent.name == "BridgeRelease")
            done = BridgeRelay.select(BridgeRelay.deposit_id).where(
                BridgeRelay.status.in_(DONE))
            rows = list(ChainEvent.select().where(
                (ChainEvent.name == "BridgeDeposit") & ChainEvent.chain.in_(list(self.chains))
                & ChainEvent.order_id.not_in(released) & ChainEvent.order_id.not_in(done))
                .order_by(ChainEvent.id).limit(self.cfg.batch_size * 10))
        return [r for r in rows if r.address.lower() == self.bridges[r.chain].lower()
                and _readable(r)]

    # ---- the settlement gate ----------------------------------------------------------------
    def _unsettled(self, events: list[ChainEvent]) -> dict[int, str]:
        """Row id -> why it waits (:data:`SHALLOW`, :data:`REORGED`, or the origin chain's
        RPC error), for the deposits that may not be relayed this round. Per origin chain:
        one ``eth_blockNumber``, then one batch of ``eth_getBlockByNumber`` for the distinct
        blocks deep enough (shallow ones need no hash yet). An origin chain that does not
        answer holds back only its own deposits."""
        waiting: dict[int, str] = {}
        for chain, rows in _by_chain(events).items():
            try:
                head, hashes = self._origin_view(chain, rows)
            except (RpcUnavailable, RpcError) as exc:
                log.warning("relayer cannot read the origin chain, its deposits wait",
                            extra={"path": self.path, "chain": chain, "error": str(exc)[:300]})
                waiting.update({r.id: f"origin unreadable: {str(exc)[:100]}" for r in rows})
                continue
            depth = self.chains[chain].settle_depth
            for r in rows:
                why = wait_reason(r.block_number, r.block_hash, head, depth, hashes)
                if why is not None:
                    waiting[r.id] = why
        return waiting

    def _origin_view(self, chain: str, rows: list[ChainEvent]) -> tuple[int, dict[int, str]]:
        """The head of ``chain`` and the canonical hash of each of ``rows``' blocks that is
        ``settlement_depth`` deep under it (a block the chain no longer has maps to "").
        The head is read first, so every hash is read at a head at least that high."""
        rpc, depth = self.rpcs[chain], self.chains[chain].settle_depth
        head = int(rpc.call("eth_blockNumber"), 16)
        deep = sorted({r.block_number for r in rows if head - r.block_number >= depth})
        blocks = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in deep])
        return head, {n: ((b or {}).get("hash") or "").lower() for n, b in zip(deep, blocks)}

    # ---- one deposit --------------------------------------------------------------------------
    def _relay(self, ev: ChainEvent, *, budget: bool) -> str:
        dep = ev.event
        assert isinstance(dep, BridgeDeposit), "candidates are BridgeDeposit rows"
        dest = self.by_id.get(dep.destination_chain_id)
        deposit_id = _deposit_id(ev)
        if dest is None:
            self._mark(ev, None, dep, "skipped",
                       reason=f"destination chain {dep.destination_chain_id} not relayed")
            return "skipped"
        sender = self.senders[dest]
        txs = sender.find(deposit_id)
        if any(t.status in (TX_PENDING, TX_MINED) for t in txs):
            return "waiting"                  # ours is in flight or mined: the watcher follows
        with self.store.connection():
            rec = BridgeRelay.get_or_none(BridgeRelay.deposit_id == deposit_id)
        refused = rec.refused if rec is not None else 0
        attempts = sum(t.status == TX_REVERTED for t in txs) + refused
        if is_released(self.rpcs[dest], self.bridges[dest], deposit_id):
            self._mark(ev, dest, dep, "released", reason="released on chain")
            return "released"
        if attempts >= self.cfg.max_retries:
            self._mark(ev, dest, dep, "failed", attempts=attempts,
                       reason=f"{attempts} reverted releases")
            log.error("bridge release failed", extra={"deposit": deposit_id, "chain": dest})
            return "failed"
        if not budget:
            return "later"
        data = release_data(deposit_id, self._dest_token(ev.chain, dest, dep.token),
                            dep.amount, dep.recipient, self.chains[ev.chain].chain_id)
        try:
            row = sender.submit(self.bridges[dest], data, reference=deposit_id,
                                purpose=_PURPOSE)
        except RpcError as exc:               # the estimate reverts (liquidity, role...)
            self._mark(ev, dest, dep, "waiting", refused=refused + 1,
                       reason=f"release would revert: {exc.message}")
            log.warning("bridge release would revert", extra={
                "deposit": deposit_id, "chain": dest, "error": exc.message})
            return "reverts"
        self._mark(ev, dest, dep, "sent", tx_hash=row.tx_hash, attempts=attempts)
        log.info("bridge release sent", extra={"deposit": deposit_id, "from": ev.chain,
                                               "to": dest, "tx": row.tx_hash})
        return "sent"

    def _dest_token(self, origin: str, dest: str, token: str) -> str:
        """The destination's address of the deposited token: the same symbol under
        ``chains.<dest>.tokens``; a token the config does not list keeps its address (the
        devnet deploys every token at the same address on both chains)."""
        try:
            symbol = self.directory.token(origin, token).symbol
            return self.directory.token(dest, symbol).address
        except UnknownName:
            return to_checksum_address(token)

    def _mark(self, ev: ChainEvent, dest: str | None, dep: BridgeDeposit, status: str,
              **fields: Any) -> None:
        values = {"origin_chain": ev.chain, "dest_chain": dest or "", "token": dep.token,
                  "amount": dep.amount, "recipient": dep.recipient,
                  "status": status, "updated_at": time.time(), **fields}
        with self.singleton.fenced():
            (BridgeRelay.insert(deposit_id=ev.order_id, **values)
             .on_conflict(conflict_target=[BridgeRelay.deposit_id],
                          update={getattr(BridgeRelay, k): v for k, v in values.items()})
             .execute())


def wait_reason(block: int, block_hash: str, head: int, depth: int,
                canonical: dict[int, str]) -> str | None:
    """Why a deposit indexed in ``block`` (hash ``block_hash``) may not be released yet,
    or None when it may: :data:`SHALLOW` while ``head - block < depth``; :data:`REORGED`
    when the chain's hash of ``block`` (``canonical``; missing or "" = the chain has no
    such block now) is not the indexed one."""
    if head - block < depth:
        return SHALLOW
    if canonical.get(block, "") != block_hash.lower():
        return REORGED
    return None


def _by_chain(events: Iterable[ChainEvent]) -> dict[str, list[ChainEvent]]:
    out: dict[str, list[ChainEvent]] = {}
    for ev in events:
        out.setdefault(ev.chain, []).append(ev)
    return out


def _deposit_id(row: ChainEvent) -> str:
    """The deposit id of a BridgeDeposit row (the watcher always sets it; the candidates
    query excludes NULL by its NOT IN)."""
    assert row.order_id is not None, "a BridgeDeposit row carries its deposit id"
    return row.order_id


def _readable(row: ChainEvent) -> bool:
    """A row the typed decoder refuses is never relayed (and never crashes a round): only a
    database written by something else than the watcher holds one."""
    try:
        _ = row.event
    except ValueError as exc:
        log.error("bridge deposit row not understood; not relayed",
                  extra={"event_id": row.id, "error": str(exc)[:300]})
        return False
    return True
