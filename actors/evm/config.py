"""Config of one EVM chain (the ``chains:`` section): RPC URLs, contracts, indexing knobs.

Kept apart from the watcher actor so the config schema can be read (and imported by
tooling, tests and other actors) without pulling in the actor and its store tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runtime.config import opt

__all__ = ["ContractsConfig", "ChainConfig", "TokenConfig", "WatcherSpec"]

_ADDR = r"(0x[0-9a-fA-F]{40})?"


@dataclass(frozen=True)
class TokenConfig:
    """An ERC-20 the node trades on one chain (``chains.<name>.tokens.<SYMBOL>``)."""

    address: str = opt(pattern=r"0x[0-9a-fA-F]{40}")
    decimals: int = opt(18, min=0, max=77)


@dataclass(frozen=True)
class ContractsConfig:
    settler: str = opt("", pattern=_ADDR, doc="OrbitalSettler address (origin+destination)")
    bridge: str = opt("", pattern=_ADDR, doc="Bridge address")

    def addresses(self) -> list[str]:
        return [a for a in (self.settler, self.bridge) if a]


@dataclass(frozen=True)
class ChainConfig:
    chain_id: int = opt(min=1)
    rpc: tuple[str, ...] = opt(factory=tuple, pattern=r"https?://\S+",
                               doc="JSON-RPC URLs, tried in order with failover")
    kind: Literal["evm"] = "evm"
    confirmations: int = opt(0, min=0, max=10_000)
    poll_interval: float = opt(1.0, min=0.005, max=600)
    start_block: int = opt(0, min=0)
    contracts: ContractsConfig = opt(factory=ContractsConfig)
    tokens: dict[str, TokenConfig] = opt(factory=dict, doc="symbol -> token on this chain")
    max_range: int = opt(2000, min=1, max=1_000_000)
    min_range: int = opt(1, min=1, max=1_000_000)
    reorg_window: int = opt(128, min=1, max=100_000)
    rpc_timeout: float = opt(10.0, min=0.05, max=300)
    rpc_backoff_max: float = opt(30.0, min=0.0, max=3600)
    lease_ttl: float = opt(15.0, min=1.0, max=3600,
                           doc="nodes sharing a database: one watcher per chain indexes, "
                               "holding lease chain:<name>; the others stand by")

    def check(self) -> None:
        if not self.rpc:
            raise ValueError("rpc: at least one URL is required")
        if self.min_range > self.max_range:
            raise ValueError("min_range must be <= max_range")
        if not self.contracts.addresses():
            raise ValueError("contracts: at least one of settler, bridge is required")
        seen: set[str] = set()
        for symbol, token in self.tokens.items():
            if token.address.lower() in seen:
                raise ValueError(f"tokens.{symbol}: address listed twice")
            seen.add(token.address.lower())


@dataclass(frozen=True)
class WatcherSpec:
    name: str
    chain: ChainConfig
