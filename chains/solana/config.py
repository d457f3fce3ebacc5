"""Config of one Solana chain (``chains.<name>`` with ``kind: solana``).

Beside the EVM chains in the same ``chains:`` section; the section's loader tells them
apart by ``kind`` (``runtime.config``: a union of dataclasses with a ``Literal`` tag).
Readers that only know EVM chains take :func:`chains.evm.config.chains_of`, which leaves
Solana chains out; Solana readers take :func:`solana_chains_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

from solders.pubkey import Pubkey

from runtime import register_url
from runtime.config import opt

__all__ = ["COMMITMENTS", "SolanaChainConfig", "SolanaTokenConfig", "SolanaWatcherSpec",
           "solana_chains_of"]

# The commitment levels the watcher may follow: ``confirmed`` (a supermajority voted on the
# slot; what progress is shown at) or ``finalized`` (31+ confirmed slots on top: what money
# will move on, in a later step). ``processed`` is not offered: such a slot may still be
# skipped by the cluster, and a cursor must never move past a slot that could vanish.
COMMITMENTS = ("confirmed", "finalized")


def _base58_pubkey(value: str) -> None:
    """A 32-byte public key in base58 (what ``solders`` accepts), else ValueError."""
    try:
        Pubkey.from_string(value)
    except ValueError:
        raise ValueError(f"expected a base58 public key (32 bytes), got {value!r}") from None


@dataclass(frozen=True)
class SolanaTokenConfig:
    """An SPL token the node knows on one Solana chain (``tokens.<SYMBOL>``)."""

    mint: str = opt(validate=_base58_pubkey, doc="the SPL mint, base58")
    decimals: int = opt(min=0, max=255)


@dataclass(frozen=True)
class SolanaChainConfig:
    kind: Literal["solana"]
    chain_id: Optional[int] = opt(None, min=1,
                                  doc="Orbital's id of this chain as an intent destination "
                                      "(orders' destinationChainId; registered on the settlers "
                                      "with setDestination32); unique among all chains of the "
                                      "section. Without one, the chain is watched only")
    rpc: tuple[str, ...] = opt(factory=tuple, pattern=r"https?://\S+",
                               doc="JSON-RPC URLs, tried in order with failover")
    commitment: Literal["confirmed", "finalized"] = opt(
        "confirmed", doc="the commitment whose slot the watcher follows")
    tokens: dict[str, SolanaTokenConfig] = opt(factory=dict, doc="symbol -> SPL mint")
    poll_interval: float = opt(1.0, min=0.005, max=600)
    start_slot: Optional[int] = opt(None, min=0,
                                    doc="first slot followed; default: the slot at the "
                                        "first start")
    page_size: int = opt(1000, min=1, max=1000,
                         doc="signatures per getSignaturesForAddress page, and transactions "
                             "indexed per tick (each tick commits what it indexed)")
    rpc_timeout: float = opt(10.0, min=0.05, max=300)
    rpc_backoff_max: float = opt(30.0, min=0.0, max=3600)
    lease_ttl: float = opt(15.0, min=1.0, max=3600,
                           doc="nodes sharing a database: one watcher per chain follows it, "
                               "holding lease chain:<name>; the others stand by")

    def check(self) -> None:
        if not self.rpc:
            raise ValueError("rpc: at least one URL is required")
        for url in self.rpc:   # provider keys in paths, queries, userinfo: never logged
            register_url(url)
        seen: set[str] = set()
        for symbol, token in self.tokens.items():
            if token.mint in seen:
                raise ValueError(f"tokens.{symbol}: mint listed twice")
            seen.add(token.mint)


@dataclass(frozen=True)
class SolanaWatcherSpec:
    name: str
    chain: SolanaChainConfig


def solana_chains_of(config: Any) -> dict[str, SolanaChainConfig]:
    """The Solana chains of the ``chains:`` section of a loaded config."""
    return {name: c for name, c in config.section("chains", dict).items()
            if isinstance(c, SolanaChainConfig)}
