"""``intents/in-house``: the operator's own solver, bidding through the same path as anyone.

SPEC section 3: "an in-house solver (configurable) can bid too". It is the reference solver
of :mod:`solver` run inside the node, connected to the node's own gRPC port with the
operator's inventory key: it gets a challenge, signs it, holds a session, bids, and on an
award opens and fills on chain exactly as an outside solver would. No shortcut into the
book means no way for the house to see or win what others could not.

Config (``in_house_solver:``): ``key`` from ``${ORBITAL_OPERATOR_KEY:-}`` (empty: not
started, logged), ``improvement_bps`` over the intent's minimum, ``tokens`` served.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Optional

from runtime import Actor, LeaseLost, SingletonLease
from runtime.config import Secret, opt

__all__ = ["InHouseConfig", "InHouseSpec", "InHouseSolver", "InHouseStatus"]

log = logging.getLogger("orbital.in_house_solver")

LEASE = "solver:in-house"


@dataclass(frozen=True)
class InHouseStatus:
    """Ask: ``{"connected": bool, "error": str, "standby": bool}`` of the solver's session
    (``standby``: another node holds the in-house solver's lease; no session here)."""


@dataclass(frozen=True)
class InHouseConfig:
    key: Optional[Secret] = opt(None, pattern=r"((0x)?[0-9a-fA-F]{64})?",
                                doc="inventory signer, from ${ORBITAL_OPERATOR_KEY:-}")
    improvement_bps: int = opt(0, min=0, max=10_000, doc="bid = minimum output + this")
    tokens: tuple[str, ...] = opt(factory=tuple, doc="output token symbols served; empty = all")
    max_parallel: int = opt(4, min=1, max=64)

    @property
    def enabled(self) -> bool:
        return bool(self.key)


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
        chains = tuple(
            ChainSpec(name, c.chain_id, c.rpc[0], c.contracts.settler,
                      {sym: t.address for sym, t in c.tokens.items()})
            for name, c in spec.chains if c.contracts.settler)
        server = self.ctx.services.grpc
        if server is None:
            raise RuntimeError("the in-house solver needs the node's gRPC server")
        self.solver_config = SolverConfig(
            target=f"127.0.0.1:{server.port}",
            key=SolverKey.from_hex(str(spec.config.key), "in_house_solver.key"),
            chains=chains, tokens=tuple(t.upper() for t in spec.config.tokens),
            improvement_bps=spec.config.improvement_bps, max_parallel=spec.config.max_parallel)
        self.solver: Any = None
        self.singleton = self.hold_lease(LEASE)
        self.resources.callback(self._stop_solver)   # before the lease is released
        if self.singleton.held:
            self._start_solver()
        else:
            log.info("in-house solver standing by: another node runs it",
                     extra={"path": self.path, "lease": LEASE})

    def lease_changed(self, lease: SingletonLease) -> None:
        if lease.held:
            self._start_solver()
        else:
            self._stop_solver(wait=False)

    def _start_solver(self) -> None:
        from solver import Solver
        if self.solver is not None:
            return
        self.solver = Solver(self.solver_config, before_send=self._fence).start()
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
        if isinstance(message, InHouseStatus):
            if self.solver is None:
                return {"connected": False, "error": None, "standby": True}
            return {"connected": self.solver.connected.is_set(), "error": self.solver.error,
                    "standby": False}
        return super().handle(message)
