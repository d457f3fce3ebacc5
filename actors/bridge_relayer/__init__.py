"""``chains/relayer``: the devnet Bridge's relayer (kind ``bridge_relayer``): releases on the
destination each indexed ``BridgeDeposit`` once it is ``settlement_depth`` deep on a block
still canonical. Modules: :mod:`._config` the section, :mod:`._models` its table,
:mod:`._actor` the actor. docs/rebalance.md.
"""

from __future__ import annotations

from chains.evm.config import chains_of

import logging

from chains.evm.models import MIGRATION as CHAIN_MIGRATION
from chains.evm.txsend import MIGRATION as TX_MIGRATION
from runtime import ChildSpec
from runtime.config import App

from ._actor import PATH, REORGED, SHALLOW, BridgeRelayer, RelayPoll, wait_reason
from ._config import RelayerConfig, RelayerSpec
from ._models import MIGRATION, BridgeRelay

__all__ = ["install", "BridgeRelayer", "RelayerConfig", "RelayerSpec", "BridgeRelay",
           "RelayPoll", "MIGRATION", "PATH", "SHALLOW", "REORGED", "wait_reason"]

log = logging.getLogger("orbital.bridge_relayer")


def install(app: App) -> None:
    app.section("bridge_relayer", RelayerConfig)
    app.migration(CHAIN_MIGRATION)
    app.migration(TX_MIGRATION)
    app.migration(MIGRATION)

    @app.provide("chains")
    def relayer(config) -> list[ChildSpec]:
        section = config.section("bridge_relayer", RelayerConfig)
        if not section.enabled:
            log.info("bridge relayer not started: no signer (set ORBITAL_RELAYER_KEY, or "
                     "bridge_relayer.keystore or bridge_relayer.remote)")
            return []
        chains = {n: c for n, c in chains_of(config).items()
                  if c.kind == "evm" and c.contracts.bridge
                  and (not section.chains or n in section.chains)}
        if len(chains) < 2:
            log.info("bridge relayer not started: fewer than two chains with a bridge")
            return []
        return [ChildSpec(PATH, BridgeRelayer, RelayerSpec(section, chains))]
