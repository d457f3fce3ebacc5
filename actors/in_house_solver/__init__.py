"""``intents/in-house``: the operator's own solver, the reference solver run inside the node
and bidding through the same solver session as anyone (:mod:`._actor`)."""

from __future__ import annotations

from chains.evm.config import chains_of

import logging

from runtime import ChildSpec
from runtime.config import App

from ._actor import InHouseConfig, InHouseSolver, InHouseSpec, InHouseStatus

__all__ = ["install", "InHouseConfig", "InHouseSolver", "InHouseSpec", "InHouseStatus"]

log = logging.getLogger("orbital.in_house_solver")


def install(app: App) -> None:
    app.section("in_house_solver", InHouseConfig)

    @app.provide("intents")
    def in_house(config) -> list[ChildSpec]:
        section = config.section("in_house_solver", InHouseConfig)
        if not section.enabled:
            log.info("in-house solver not started: no key (set ORBITAL_OPERATOR_KEY)")
            return []
        chains = tuple(sorted((n, c) for n, c in chains_of(config).items() if c.kind == "evm"))
        return [ChildSpec("in-house", InHouseSolver, InHouseSpec(section, chains))]
