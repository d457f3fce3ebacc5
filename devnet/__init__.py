"""Orbital's local devnet: two anvil chains with every contract deployed at fixed addresses.

CLI: ``python -m devnet up|down|status [--state-dir var]``. Library (used by tests to run
isolated devnets on free ports)::

    info = devnet.start("var", ports=(8545, 8546))   # idempotent
    devnet.stop("var")
    with devnet.running(tmp_dir, ports=(p1, p2)) as info: ...

See ``devnet.info`` for the shape of ``<state dir>/devnet.json``.
"""

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
    ChainStatus,
    DevnetStatus,
    load_info,
    running,
    start,
    status,
    stop,
)
from devnet.rpc import Rpc, RpcError

__all__ = [
    "ACCOUNTS",
    "CHAINS",
    "DEFAULT_HOST",
    "DEFAULT_MNEMONIC",
    "DEFAULT_PORTS",
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
