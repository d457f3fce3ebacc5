"""Orbital's local devnet: two anvil chains with every contract deployed at fixed addresses, and
solana-local (a LiteSVM-backed Solana RPC with an SPL USDC mint; ``devnet.solana_rpc``).

CLI: ``python -m devnet up|down|status [--state-dir var]``. Library (used by tests to run
isolated devnets on free ports)::

    info = devnet.start("var", ports=(8545, 8546))   # idempotent
    devnet.stop("var")
    with devnet.running(tmp_dir, ports=(p1, p2)) as info: ...

See ``devnet.info`` for the shape of ``<state dir>/devnet.json``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names, for type checkers; at run time they load on first use (below)
    from devnet.accounts import (
        ACCOUNTS,
        DEFAULT_MNEMONIC,
        ROLES,
        DevAccount,
        account,
        accounts_with_role,
    )
    from devnet.anvil import DevnetError, find_anvil
    from devnet.deploy import predicted_addresses
    from devnet.info import (
        ChainContracts,
        ChainInfo,
        DevnetInfo,
        FeedInfo,
        PoolInfo,
        TokenInfo,
        devnet_json_path,
    )
    from devnet.lifecycle import (
        CHAINS,
        DEFAULT_HOST,
        DEFAULT_PORTS,
        DEFAULT_SOLANA_PORT,
        ChainStatus,
        DevnetStatus,
        load_info,
        running,
        start,
        status,
        stop,
    )
    from devnet.config import chains_yaml
    from devnet.ports import free_ports
    from devnet.rpc import Rpc, RpcError
    from devnet.solana_keys import SOLANA_ACCOUNTS

# name -> submodule. Lazy so that `python -m devnet.solana_rpc` (and anything importing one
# submodule) does not pay for web3/eth_account imports it never uses.
_LAZY = {
    'free_ports': 'devnet.ports',
    'chains_yaml': 'devnet.config',
    'ACCOUNTS': 'devnet.accounts',
    'DEFAULT_MNEMONIC': 'devnet.accounts',
    'ROLES': 'devnet.accounts',
    'DevAccount': 'devnet.accounts',
    'account': 'devnet.accounts',
    'accounts_with_role': 'devnet.accounts',
    'DevnetError': 'devnet.anvil',
    'find_anvil': 'devnet.anvil',
    'predicted_addresses': 'devnet.deploy',
    'ChainContracts': 'devnet.info',
    'ChainInfo': 'devnet.info',
    'DevnetInfo': 'devnet.info',
    'FeedInfo': 'devnet.info',
    'PoolInfo': 'devnet.info',
    'TokenInfo': 'devnet.info',
    'devnet_json_path': 'devnet.info',
    'CHAINS': 'devnet.lifecycle',
    'DEFAULT_HOST': 'devnet.lifecycle',
    'DEFAULT_PORTS': 'devnet.lifecycle',
    'DEFAULT_SOLANA_PORT': 'devnet.lifecycle',
    'ChainStatus': 'devnet.lifecycle',
    'DevnetStatus': 'devnet.lifecycle',
    'load_info': 'devnet.lifecycle',
    'running': 'devnet.lifecycle',
    'start': 'devnet.lifecycle',
    'status': 'devnet.lifecycle',
    'stop': 'devnet.lifecycle',
    'Rpc': 'devnet.rpc',
    'RpcError': 'devnet.rpc',
    'SOLANA_ACCOUNTS': 'devnet.solana_keys',
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'devnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "chains_yaml",
    "free_ports",
    "ACCOUNTS",
    "CHAINS",
    "DEFAULT_HOST",
    "DEFAULT_MNEMONIC",
    "DEFAULT_PORTS",
    "DEFAULT_SOLANA_PORT",
    "SOLANA_ACCOUNTS",
    "ROLES",
    "ChainContracts",
    "ChainInfo",
    "ChainStatus",
    "DevAccount",
    "DevnetError",
    "DevnetInfo",
    "DevnetStatus",
    "FeedInfo",
    "PoolInfo",
    "Rpc",
    "RpcError",
    "TokenInfo",
    "account",
    "accounts_with_role",
    "devnet_json_path",
    "find_anvil",
    "load_info",
    "predicted_addresses",
    "running",
    "start",
    "status",
    "stop",
]
