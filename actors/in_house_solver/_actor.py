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
from dataclasses import dataclass
from typing import Optional

from runtime import Actor
from runtime.config import Secret, opt

__all__ = ["InHouseConfig", "InHouseSpec", "InHouseSolver", "InHouseStatus"]

log = logging.getLogger("orbital.in_house_solver")


@dataclass(frozen=True)
class InHouseStatus:
    """Ask: ``{"connected": bool, "error": str}`` of the solver's session."""


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
    kind = "in_house_solver"

    def setup(self) -> None:
        from solver import Solver
        from solver import ChainSpec, SolverConfig, SolverKey
        spec: InHouseSpec = self.config
        chains = tuple(
            ChainSpec(name, c.chain_id, c.rpc[0], c.contracts.settler,
                      {sym: t.address for sym, t in c.tokens.items()})
            for name, c in spec.chains if c.contracts.settler)
        server = self.ctx.services.grpc
        if server is None:
            raise RuntimeError("the in-house solver needs the node's gRPC server")
        cfg = SolverConfig(target=f"127.0.0.1:{server.port}",
                           key=SolverKey.from_hex(str(spec.config.key), "in_house_solver.key"),
                           chains=chains, tokens=tuple(t.upper() for t in spec.config.tokens),
                           improvement_bps=spec.config.improvement_bps,
                           max_parallel=spec.config.max_parallel)
        self.solver = Solver(cfg).start()
        self.resources.callback(self.solver.stop)
        log.info("in-house solver started", extra={"path": self.path, "solver": cfg.address})

    def handle(self, message):
        if isinstance(message, InHouseStatus):
            return {"connected": self.solver.connected.is_set(), "error": self.solver.error}
        return super().handle(message)
