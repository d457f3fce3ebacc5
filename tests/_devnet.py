"""The devnet as its ``devnet.json`` describes it, with no chain behind it.

For tests whose subject reads the devnet's description and never a chain (config loading,
the hello's chain and token names): they need what ``devnet up`` records, not two anvils.
A plain module (not a conftest), beside :mod:`tests._node`, whose ``chains_section`` takes
the chains of the :class:`~devnet.DevnetInfo` built here as it takes a running devnet's.
:func:`assert_progress` checks the step lines ``python -m devnet up`` prints on stderr.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from devnet import (CHAINS, ChainContracts, ChainInfo, DevnetInfo, FeedInfo, PoolInfo, TokenInfo,
                    free_ports, predicted_addresses)
from devnet.deploy import FEEDS, POOL_FEE_BPS, POOLS, TOKENS
from devnet.info import write_info

__all__ = ["assert_progress", "offline_devnet"]


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


def assert_progress(up: subprocess.CompletedProcess, chains: list[str],
                    first: tuple[str, ...] = ()) -> None:
    """``devnet up`` told each step on stderr as it went (``devnet: [  0.4s] step``, seconds
    never going back), in order per chain, ``done`` last; stdout kept only the summary lines
    scripts read (one per chain, then ``devnet up in``)."""
    lines = up.stderr.splitlines()
    assert all(line.startswith("devnet: [") for line in lines), up.stderr
    seconds = [float(line.split("[", 1)[1].split("s]", 1)[0]) for line in lines]
    assert seconds == sorted(seconds)
    steps = [line.split("] ", 1)[1] for line in lines]
    assert tuple(steps[:len(first)]) == first
    for name in chains:
        mine = [s for s in steps if s.startswith(f"starting anvil {name} ") or
                s.startswith(f"{name}: ")]
        assert [s.split(" (")[0].split(", last")[0] for s in mine] == [
            f"starting anvil {name}", f"{name}: anvil ready",
            f"{name}: setting Permit2's code at 0x000000000022D473030F116dDEE9F6B43aC78BA3",
            f"{name}: deploying contracts, funding accounts with test tokens, seeding pools",
            f"{name}: approving the settler, bridge and pools for every account",
            f"{name}: deployed"], steps
    assert steps[-2].startswith("wrote ") and steps[-1] == "done"
    out = up.stdout.splitlines()
    assert [line.split(":")[0] for line in out[:-1]] == chains + (["solana-local"] if first else [])
    assert out[-1].startswith("devnet up in ")
