"""Config of one EVM chain (the ``chains:`` section): RPC URLs, contracts, indexing knobs.

Kept apart from the watcher actor so the config schema can be read (and imported by
tooling, tests and other actors) without pulling in the actor and its store tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Optional

from protocol import PERMIT2_ADDRESS
from runtime import register_url
from runtime.config import opt

__all__ = ["ContractsConfig", "ChainConfig", "TokenConfig", "WatcherSpec", "DEPTH_DEFAULTS",
           "default_depths", "chains_of"]

log = logging.getLogger("orbital.chains")

# Per chain id: (confirmations, settlement_depth) when the config leaves them out
# (docs/chain-watcher.md, "Depths"). ``confirmations`` is how far behind the head the
# watcher indexes: what users see waits that long, and a reorg shallower than it is never
# seen. ``settlement_depth`` is how deep an event must be before money moves on its
# strength: a fill before the attester repays it, a bridge deposit before the relayer
# releases it. A reorg deeper than that can still undo the evidence after the money moved,
# so it is set at or past each chain's practical finality in normal operation, on the safe
# side: slow for money, but operators who accept more risk set their own. Depths count
# blocks, so a chain whose block time changes (BNB Chain's did twice in 2025) needs them
# re-checked.
DEPTH_DEFAULTS: dict[int, tuple[int, int]] = {
    # Ethereum, 12 s slots: the finalized checkpoint trails the head by 64-95 slots (2-3
    # epochs), so 96 blocks (>= 96 slots) is finalized whenever the chain finalizes; ~19 min.
    1: (2, 96),
    11155111: (2, 96),     # Sepolia, as Ethereum
    # OP Stack, 2 s blocks: final once the batch holding the block is in a finalized L1
    # block, typically 20-30 min; 900 blocks = 30 min. Before that the sequencer's blocks
    # can still be reorged (a batch that never reaches L1 in time).
    10: (10, 900),         # OP Mainnet
    8453: (10, 900),       # Base
    # Arbitrum One: a block at most every 0.25 s (fewer when idle, which only adds time);
    # final with its batch on finalized L1 as above; 7200 blocks >= 30 min.
    42161: (20, 7200),
    # Polygon PoS, 2 s blocks: a 157-block reorg happened in Feb 2023; milestones have since
    # made blocks final much sooner, 256 blocks (~8.5 min) stays past both.
    137: (32, 256),
    # BNB Chain, 0.75 s blocks since mid-2025, each validator producing a run of blocks in
    # its turn: fast finality usually finalizes a block within a few blocks; when the votes
    # stall, the old rule (blocks by 2/3 of the 21 validators) means 15 turns, and 240
    # blocks (3 min) covers 15 turns of up to 16 blocks. The former "15 blocks" assumed
    # one block per turn.
    56: (3, 240),
    # Avalanche C-Chain: Snowman finality; the RPC's latest block is already accepted.
    43114: (1, 1),
    # Devnets (anvil/hardhat default 31337, Orbital's second chain 31338): blocks are mined
    # on demand and reorged only when asked (anvil_reorg), so nothing waits. Tests that
    # exercise the depths set them explicitly.
    31337: (0, 0),
    31338: (0, 0),
}
# A chain not in the table: Ethereum's values, a guess (block times differ by 50x between
# chains), so the config load warns; set both for such a chain.
_UNKNOWN_DEPTHS = DEPTH_DEFAULTS[1]


def default_depths(chain_id: int) -> tuple[int, int]:
    """(confirmations, settlement_depth) of a chain whose config does not set them."""
    return DEPTH_DEFAULTS.get(chain_id, _UNKNOWN_DEPTHS)


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
        """The contracts whose logs the chain's watcher indexes: the settler and the bridge
        as configured, and Permit2 (its canonical address) on every chain with a settler:
        its ``UnorderedNonceInvalidation`` cancels orders signed in the Permit2 form
        (docs/chain-watcher.md)."""
        permit2 = PERMIT2_ADDRESS if self.settler else ""
        return [a for a in (self.settler, self.bridge, permit2) if a]


@dataclass(frozen=True)
class ChainConfig:
    chain_id: int = opt(min=1)
    rpc: tuple[str, ...] = opt(factory=tuple, pattern=r"https?://\S+",
                               doc="JSON-RPC URLs, tried in order with failover")
    kind: Literal["evm"] = "evm"
    confirmations: Optional[int] = opt(None, min=0, max=10_000,
                                       doc="blocks behind the head indexed; default by chain id")
    settlement_depth: Optional[int] = opt(None, min=0, max=100_000,
                                          doc="blocks above an event before money moves on it "
                                              "(settle a fill, release a deposit); default by "
                                              "chain id")
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

    def __post_init__(self) -> None:
        # Left out: the chain's defaults (DEPTH_DEFAULTS). Frozen, so set once here: every
        # reader sees plain ints.
        confirmations, depth = default_depths(self.chain_id)
        if self.chain_id not in DEPTH_DEFAULTS and None in (self.confirmations,
                                                              self.settlement_depth):
            log.warning("chain id %s has no default depths; using confirmations %s, "
                        "settlement_depth %s: set them for this chain", self.chain_id,
                        confirmations, depth)
        if self.confirmations is None:
            object.__setattr__(self, "confirmations", confirmations)
        if self.settlement_depth is None:
            object.__setattr__(self, "settlement_depth", depth)

    # The depths as readers use them: set by the config or the chain's default, never None
    # after __post_init__ (the fields stay Optional: None in YAML means "the default").
    @property
    def confirm_depth(self) -> int:
        """Blocks behind the head that the watcher indexes (``confirmations``)."""
        assert self.confirmations is not None, "resolved in __post_init__"
        return self.confirmations

    @property
    def settle_depth(self) -> int:
        """Blocks above an event before money moves on it (``settlement_depth``)."""
        assert self.settlement_depth is not None, "resolved in __post_init__"
        return self.settlement_depth

    def check(self) -> None:
        if not self.rpc:
            raise ValueError("rpc: at least one URL is required")
        for url in self.rpc:   # provider keys in paths, queries, userinfo: never logged
            register_url(url)
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


def chains_of(config: Any) -> dict[str, ChainConfig]:
    """The EVM chains of the ``chains:`` section of a loaded :class:`runtime.config.Config`
    (empty when no installed kind declares it), typed. Chains of another kind (``kind:
    solana``, :func:`chains.solana.solana_chains_of`) are left out here, in one place: every
    reader of this function (the book's directory, quoter, admission, attester, funding,
    rebalance, relayer, solver sessions) works on EVM chains only."""
    return {name: c for name, c in config.section("chains", dict).items()
            if isinstance(c, ChainConfig)}
