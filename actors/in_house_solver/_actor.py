"""``intents/in-house``: the operator's own solver, bidding through the same path as anyone.

SPEC section 3: "an in-house solver (configurable) can bid too". It is the reference solver
of :mod:`solver` run inside the node, connected to the node's own gRPC port with the
operator's inventory key: it gets a challenge, signs it, holds a session, bids, and on an
award opens and fills on chain exactly as an outside solver would. No shortcut into the
book means no way for the house to see or win what others could not.

Config (``in_house_solver:``): the signer, a :class:`chains.evm.signer.SignerConfig` with
its keys flat in the section (``key`` from ``${ORBITAL_OPERATOR_KEY:-}``, the default; or
``keystore`` + ``password``; or ``remote`` + ``address``: the node never holds that key;
none of them: not started, logged), ``improvement_bps`` over the intent's minimum,
``tokens`` served, ``tx`` the fees and replacement of its transactions.

Its EVM transactions are the node's sender's (:mod:`._gateway`): recorded in ``evm_tx``
under ``intents/in-house`` and given their nonce by the one rule per (chain, address), so
the rebalance strategies signing with the same operator key never collide with them. The
actor follows them every ``poll_interval`` while it holds its lease.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Optional

from chains.evm import RpcClient, RpcError, RpcUnavailable
from chains.evm.signer import RemoteSigner, SignerConfig
from chains.evm.txsend import TxConfig, TxSender
from runtime import Actor, LeaseLost, SingletonLease
from runtime.config import Secret, opt

from ._gateway import HouseGateway, LeaseFence

__all__ = ["InHouseConfig", "InHouseSpec", "InHouseSolver", "InHouseStatus"]

log = logging.getLogger("orbital.in_house_solver")

LEASE = "solver:in-house"


@dataclass(frozen=True)
class InHouseStatus:
    """Ask: ``{"connected": bool, "error": str, "standby": bool}`` of the solver's session
    (``standby``: another node holds the in-house solver's lease; no session here)."""


@dataclass(frozen=True)
class InHouseConfig(SignerConfig):
    key: Optional[Secret] = opt(None, pattern=r"((0x)?[0-9a-fA-F]{64})?",
                                doc="inventory signer, from ${ORBITAL_OPERATOR_KEY:-}; or "
                                    "keystore + password, or remote + address")
    improvement_bps: int = opt(0, min=0, max=10_000, doc="bid = minimum output + this")
    tokens: tuple[str, ...] = opt(factory=tuple, doc="output token symbols served; empty = all")
    max_parallel: int = opt(4, min=1, max=64)
    poll_interval: float = opt(2.0, min=0.01, max=600,
                               doc="seconds between rounds following its transactions")
    tx: TxConfig = opt(factory=TxConfig, doc="fees and replacement of its transactions")

    @property
    def enabled(self) -> bool:
        return self.configured


@dataclass(frozen=True)
class InHouseSpec:
    config: InHouseConfig
    chains: tuple  # ((name, ChainConfig), ...)


class InHouseSolver(Actor):
    """Trades only while this node holds lease ``solver:in-house`` (one house solver per
    database: two would bid against each other and spend the same inventory twice). The
    solver's session is started on gain and stopped on loss; each transaction it sends is
    fenced first (:meth:`_fence`), so an ex-holder that paused sends nothing."""

    kind = "in_house_solver"

    def setup(self) -> None:
        from solver import ChainSpec, SolverConfig, SolverKey
        spec: InHouseSpec = self.config
        evm = [(name, c) for name, c in spec.chains if c.contracts.settler]
        chains = tuple(
            ChainSpec(name, c.chain_id, c.rpc[0], c.contracts.settler,
                      {sym: t.address for sym, t in c.tokens.items()})
            for name, c in evm)
        server = self.ctx.services.grpc
        if server is None:
            raise RuntimeError("the in-house solver needs the node's gRPC server")
        store = self.ctx.services.store
        # the signer: a key or keystore (registered for redaction) or a remote signer
        cfg = spec.config
        account = cfg.signer()
        if isinstance(account, RemoteSigner):
            self.own(account)

        def chain_account(name: str) -> Any:       # remote_chains: that chain's own URL
            if cfg.remote and name in cfg.remote_chains:
                return self.own(cfg.signer(chain=name))
            return account
        self.solver_config = SolverConfig(
            target=f"127.0.0.1:{server.port}", key=SolverKey(account),
            chains=chains, tokens=tuple(t.upper() for t in spec.config.tokens),
            improvement_bps=spec.config.improvement_bps, max_parallel=spec.config.max_parallel)
        self.solver: Any = None
        self.singleton = self.hold_lease(LEASE)
        # One sender per chain, over the chain's whole RPC list as every other sender of
        # the node builds it: the nonce allocator is the one of (chain, address).
        fence = LeaseFence(store, self.singleton)
        self.gateway = HouseGateway({
            c.chain_id: self.own(TxSender(
                name, c.chain_id,
                self.own(RpcClient(c.rpc, timeout=c.rpc_timeout, backoff_max=c.rpc_backoff_max)),
                chain_account(name), store, owner=self.path, cfg=cfg.tx,
                clock=self.ctx.clock.wall, fence=fence))
            for name, c in evm})
        self._reconciled = False
        self.resources.callback(self._stop_solver)   # before the lease is released
        if self.singleton.held:
            self._start_solver()
        else:
            log.info("in-house solver standing by: another node runs it",
                     extra={"path": self.path, "lease": LEASE})
        self.schedule_tick(0.0)

    def lease_changed(self, lease: SingletonLease) -> None:
        if lease.held:
            self._reconciled = False
            self._start_solver()
        else:
            self._stop_solver(wait=False)

    def _follow(self) -> None:
        """Follow this solver's transactions (see :meth:`HouseGateway.follow`) while this
        node holds the lease; an RPC outage or a lost lease ends the round."""
        if not self.singleton.held:
            return
        try:
            self.gateway.follow(self.ctx.clock.wall(), reconcile=not self._reconciled)
            self._reconciled = True
        except (RpcError, RpcUnavailable, LeaseLost) as exc:
            log.warning("in-house transactions not followed this round",
                        extra={"path": self.path, "error": str(exc)[:300]})

    def _start_solver(self) -> None:
        from solver import Solver
        if self.solver is not None:
            return
        self.solver = Solver(self.solver_config, before_send=self._fence,
                             gateway=self.gateway).start()
        log.info("in-house solver started", extra={"path": self.path,
                                                   "solver": self.solver_config.address,
                                                   "epoch": self.singleton.epoch})

    def _stop_solver(self, wait: bool = True) -> None:
        """Stop trading. On a lost lease the session ends at once and the awards in
        progress are left to end on another thread (their next transaction is refused by
        the fence): the actor goes on renewing its lease meanwhile."""
        solver, self.solver = self.solver, None
        if solver is None:
            return
        if wait:
            solver.stop()
        else:
            solver.request_stop()
            threading.Thread(target=solver.stop, name="in-house-stop", daemon=True).start()
            log.warning("in-house solver stopped: another node runs it", extra={"path": self.path})

    def _fence(self) -> None:
        """Before each transaction, on the solver's threads: prove in a transaction of its
        own that this node holds the lease at the epoch it was started under, else raise
        :class:`runtime.LeaseLost` (the award fails; no transaction goes out)."""
        lease = self.singleton
        epoch = lease.epoch
        if epoch is None:
            raise LeaseLost(f"this node does not hold {LEASE}; another node runs the "
                            "in-house solver")
        store = self.ctx.services.store
        with store.atomic():
            store.fence(lease.name, epoch, lease.ttl)

    def handle(self, message):
        if self.run_tick(message, self.config.config.poll_interval, self._follow):
            return None
        if isinstance(message, InHouseStatus):
            if self.solver is None:
                return {"connected": False, "error": None, "standby": True}
            return {"connected": self.solver.connected.is_set(), "error": self.solver.error,
                    "standby": False}
        return super().handle(message)
