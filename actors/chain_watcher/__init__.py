"""``chains/watcher/<name>``: one reorg-safe log indexer per configured EVM chain, one
slot follower per Solana chain, and ``orbital.v1.ChainService`` (their live state and the
indexed events).

Modules: :mod:`._actor` the EVM watcher, :mod:`._solana` the Solana one, :mod:`._messages`
what they tell the book and answer, :mod:`._service` the servicer. The config section, the tables and the log pipeline are the
chain library's (:mod:`chains.evm`): other kinds read them too. docs/chain-watcher.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chains.evm.config import ChainConfig, WatcherSpec, chains_of
from chains.evm.models import MIGRATIONS
from chains.solana import MIGRATIONS as SOLANA_MIGRATIONS
from chains.solana import SolanaChainConfig, SolanaWatcherSpec, solana_chains_of
from runtime import ChildSpec
from runtime.config import App, KeyedError

from ._actor import ChainWatcher
from ._messages import CHAIN_EVENTS_CHANNEL, ChainEventsCommitted, ChainReorged, WatcherStatus
from ._service import ChainServicer, chain_service
from ._solana import SolanaWatcher

__all__ = ["install", "ChainWatcher", "SolanaWatcher", "ChainEventsCommitted", "ChainReorged",
           "CHAIN_EVENTS_CHANNEL",
           "WatcherStatus", "ChainServicer", "chain_service"]


def _unique_chain_ids(chains: Mapping[str, Any]) -> None:
    """Chain ids name chains in orders (originChainId, destinationChainId): one id, one chain,
    whatever its kind (EVM chains always have one, Solana chains when they are destinations)."""
    seen: dict[int, str] = {}
    for name, chain in chains.items():
        cid = getattr(chain, "chain_id", None)
        if cid is None:
            continue
        if cid in seen:
            raise KeyedError(f"{name}.chain_id", f"chain id {cid} is already that of chain {seen[cid]!r}; "
                                                 "chain ids must be unique across all chains")
        seen[cid] = name


def install(app: App) -> None:
    # each chain is one kind or the other, told apart by its ``kind`` key (default evm)
    app.section("chains", dict[str, ChainConfig | SolanaChainConfig], check=_unique_chain_ids)
    for migration in [*MIGRATIONS, *SOLANA_MIGRATIONS]:
        app.migration(migration)

    @app.provide("chains")
    def watchers(config) -> list[ChildSpec]:
        evm = [ChildSpec(f"watcher/{name}", ChainWatcher, WatcherSpec(name, cfg))
               for name, cfg in chains_of(config).items()]
        solana = [ChildSpec(f"watcher/{name}", SolanaWatcher, SolanaWatcherSpec(name, cfg))
                  for name, cfg in solana_chains_of(config).items()]
        return sorted(evm + solana, key=lambda spec: spec.id)

    app.service(chain_service)
