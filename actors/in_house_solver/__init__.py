"""``intents/in-house``: the operator's own solver, the reference solver run inside the node
and bidding through the same solver session as anyone (:mod:`._actor`)."""

from __future__ import annotations

from chains.evm.config import chains_of
from chains.evm.txsend import MIGRATION as TX_MIGRATION

import logging

from runtime import ChildSpec
from runtime.config import App

from ._actor import InHouseConfig, InHouseSolver, InHouseSpec, InHouseStatus
from ._gateway import HouseGateway, LeaseFence, TxRefused

__all__ = ["install", "InHouseConfig", "InHouseSolver", "InHouseSpec", "InHouseStatus",
           "HouseGateway", "LeaseFence", "TxRefused"]

log = logging.getLogger("orbital.in_house_solver")


def install(app: App) -> None:
    app.section("in_house_solver", InHouseConfig)
    app.migration(TX_MIGRATION)     # its transactions are the node's sender's (evm_tx)

    @app.provide("intents")
    def in_house(config) -> list[ChildSpec]:
        section = config.section("in_house_solver", InHouseConfig)
        if not section.enabled:
            log.info("in-house solver not started: no signer (set ORBITAL_OPERATOR_KEY, or "
                     "in_house_solver.keystore or in_house_solver.remote)")
            return []
        chains = tuple(sorted((n, c) for n, c in chains_of(config).items() if c.kind == "evm"))
        return [ChildSpec("in-house", InHouseSolver, InHouseSpec(section, chains))]
