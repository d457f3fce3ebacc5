"""``rebalance/<name>``: rebalance strategies, one actor per strategy (issue 5, section 2).

A strategy keeps one token spread over chains at target weights: outside the tolerance
band it moves the difference (bounded by min/max transfer) through the devnet Bridge
(approve if needed + deposit on the rich chain, signed by the inventory key), and follows
the move to completion through the chain watchers' ``chain_event`` rows (our
``BridgeDeposit`` on the source, its ``BridgeRelease`` on the destination). Every move is
recorded before anything is sent; at most one is in flight per strategy, also across
restarts; a move past ``move_timeout`` raises the alert ``rebalance_move_stuck``;
``dry_run`` records plans and sends nothing. ``AdminService/ListStrategies`` shows
weights now vs target, moves in flight and history. See docs/rebalance.md.

Layout: ``_config`` the ``rebalance:`` section; ``_models`` the move journal (migration
``0600_rebalance``); ``_plan`` pure planning (weights, band, sizing); ``_bridge`` Bridge/ERC-20
calldata, views and the watchers' rows; ``_actor`` the actor; ``_admin`` ListStrategies.
"""

from __future__ import annotations

from chains.evm.config import chains_of

import logging

from runtime import ChildSpec
from runtime.config import App

from ._actor import ALERT_STUCK, Poll, Strategy, StrategyStatus
from ._admin import list_strategies
from ._bridge import (allowance, approve_data, balance_of, deposit_data, deposit_events,
                      is_released, release_data, release_event)
from ._config import (Leg, RebalanceConfig, SignerConfig, StrategyConfig, StrategySpec,
                      to_units)
from ._models import IN_FLIGHT, MIGRATION, RebalanceMove
from ._plan import Decision, Move, deviations, in_band, plan, weights

__all__ = ["install", "Strategy", "Poll", "StrategyStatus", "ALERT_STUCK", "list_strategies",
           "RebalanceConfig", "StrategyConfig", "SignerConfig", "StrategySpec", "Leg",
           "to_units", "RebalanceMove", "MIGRATION", "IN_FLIGHT", "Decision", "Move",
           "deviations", "in_band", "plan", "weights", "allowance", "approve_data",
           "balance_of", "deposit_data", "deposit_events", "is_released", "release_data",
           "release_event"]

log = logging.getLogger("orbital.rebalance")


def install(app: App) -> None:
    from chains.evm.models import MIGRATION as CHAIN_MIGRATION
    from chains.evm.txsend import MIGRATION as TX_MIGRATION
    app.section("rebalance", RebalanceConfig)
    # It reads the watchers' chain_event and sends through evm_tx: their migrations
    # (deduplicated by id) make sure the tables exist whichever kinds are installed.
    app.migration(CHAIN_MIGRATION)
    app.migration(TX_MIGRATION)
    app.migration(MIGRATION)
    app.admin("ListStrategies", list_strategies)

    @app.provide("rebalance")
    def strategies(config) -> list[ChildSpec]:
        section = config.section("rebalance", RebalanceConfig)
        chains = chains_of(config)
        out = []
        for name, s in sorted(section.strategies.items()):
            if not s.enabled:
                continue
            if not s.signer.configured:
                log.info("rebalance strategy not started: no inventory signer (set its "
                         "key env var or keystore)", extra={"strategy": name})
                continue
            out.append(ChildSpec(name, Strategy, StrategySpec.build(name, s, chains)))
        return out
