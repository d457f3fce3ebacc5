"""The ``chains:`` section of supervisor.yaml for a running devnet (any ports).

supervisor.yaml carries the default devnet's addresses; tests and tools that start a devnet
on other ports get the same section, for those ports, from here.
"""

from __future__ import annotations

from typing import Any

from devnet.info import DevnetInfo
from devnet.solana_keys import CHAIN_ID as SOLANA_CHAIN_ID

__all__ = ["chains_yaml"]


def chains_yaml(info: DevnetInfo, **options: Any) -> str:
    """YAML text of ``chains:`` with every EVM chain of ``info``; ``options`` are extra
    per-chain keys (``poll_interval=0.1``, ``confirmations=2``...). When the devnet runs
    solana-local, it is listed too (``kind: solana``, ``chain_id`` 900 (its destination id
    on the settlers), its USDC mint; of ``options`` only
    ``poll_interval`` applies to it)."""
    opts = {"confirmations": 0, "poll_interval": 0.1} | options
    lines = ["chains:"]
    for chain in info.chains:
        c = chain.contracts
        lines += [f"  {chain.name}:", "    kind: evm", f"    chain_id: {chain.chain_id}",
                  f"    rpc: [{chain.rpc_url}]",
                  f"    contracts: {{settler: '{c.settler}', bridge: '{c.bridge}'}}"]
        lines += [f"    {k}: {v}" for k, v in opts.items()]
        lines.append("    tokens:")
        lines += [f"      {sym}: {{address: '{t.address}', decimals: {t.decimals}}}"
                  for sym, t in c.tokens.items()]
    if info.solana is not None:
        sol = info.solana
        lines += [f"  {sol['name']}:", "    kind: solana",
                  f"    chain_id: {sol.get('chain_id', SOLANA_CHAIN_ID)}",
                  f"    rpc: [{sol['rpc_url']}]", "    commitment: confirmed"]
        if "poll_interval" in opts:
            lines.append(f"    poll_interval: {opts['poll_interval']}")
        lines.append("    tokens:")
        lines += [f"      {sym}: {{mint: '{t['mint']}', decimals: {t['decimals']}}}"
                  for sym, t in sol["tokens"].items()]
    return "\n".join(lines) + "\n"
