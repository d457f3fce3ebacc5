"""The devnet as its ``devnet.json`` describes it, with no chain behind it.

For tests whose subject reads the devnet's description and never a chain (config loading,
the hello's chain and token names): they need what ``devnet up`` records, not two anvils.
A plain module (not a conftest), beside :mod:`tests._node`, whose ``chains_section`` takes
the chains of the :class:`~devnet.DevnetInfo` built here as it takes a running devnet's.
"""

from __future__ import annotations

from pathlib import Path

from devnet import (CHAINS, ChainContracts, ChainInfo, DevnetInfo, FeedInfo, PoolInfo, TokenInfo,
                    free_ports, predicted_addresses)
from devnet.deploy import FEEDS, POOL_FEE_BPS, POOLS, TOKENS
from devnet.info import write_info

__all__ = ["offline_devnet"]


def offline_devnet(state_dir: Path | str) -> DevnetInfo:
    """Write ``state_dir/devnet.json`` as ``devnet up`` would (both chains, the deterministic
    contract addresses ``devnet.deploy`` deploys to, the well-known accounts) and return it.
    Each chain's RPC is a free port nothing listens on: a test that reaches a chain fails
    rather than quietly using one."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    addr = predicted_addresses()
    contracts = ChainContracts(
        settler=addr["settler"], bridge=addr["bridge"],
        tokens={sym: TokenInfo(sym, addr[sym], dec) for sym, _, dec, *_ in TOKENS},
        feeds={pair: FeedInfo(pair, addr[f"feed:{pair}"], dec) for pair, dec, _ in FEEDS},
        pools={pair: PoolInfo(pair, addr[f"pool:{pair}"], t0, t1, POOL_FEE_BPS)
               for pair, t0, t1 in POOLS})
    chains = tuple(ChainInfo(name, "evm", chain_id, f"http://127.0.0.1:{port}", 0,
                             str(state_dir / f"{name}.log"), 0, contracts)
                   for (name, chain_id), port in zip(CHAINS, free_ports(len(CHAINS))))
    info = DevnetInfo(str(state_dir), chains)
    write_info(info)
    return info
