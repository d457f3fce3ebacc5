"""``chains/watcher/<name>``: one reorg-safe log indexer per configured EVM chain, and
``orbital.v1.ChainService`` (their live state and the indexed events).

Modules: :mod:`._actor` the watcher, :mod:`._messages` what it tells the book and answers,
:mod:`._service` the servicer. The config section, the tables and the log pipeline are the
chain library's (:mod:`chains.evm`): other kinds read them too. docs/chain-watcher.md.
"""

from __future__ import annotations

from chains.evm.config import ChainConfig, WatcherSpec, chains_of
from chains.evm.models import MIGRATIONS
from runtime import ChildSpec
from runtime.config import App

from ._actor import ChainWatcher
from ._messages import ChainEventsCommitted, ChainReorged, WatcherStatus
from ._service import ChainServicer, chain_service

__all__ = ["install", "ChainWatcher", "ChainEventsCommitted", "ChainReorged", "WatcherStatus", "ChainServicer", "chain_service"]


def install(app: App) -> None:
    app.section("chains", dict[str, ChainConfig])
    for migration in MIGRATIONS:
        app.migration(migration)

    @app.provide("chains")
    def watchers(config) -> list[ChildSpec]:
        chains = chains_of(config)
        return [ChildSpec(f"watcher/{name}", ChainWatcher, WatcherSpec(name, cfg))
                for name, cfg in sorted(chains.items()) if cfg.kind == "evm"]

    app.service(chain_service)
