"""What a running devnet looks like: the typed form of ``<state dir>/devnet.json``.

devnet.json is the one file the runtime config, the clients and the tests read to find chains,
RPC URLs, contracts and accounts, so its shape is defined once here (an example is in
devnet/README.md) and written atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.accounts import ACCOUNTS, DevAccount, find_account

__all__ = [
    "DEVNET_JSON",
    "ChainContracts",
    "ChainInfo",
    "DevnetInfo",
    "FeedInfo",
    "PoolInfo",
    "TokenInfo",
    "devnet_json_path",
    "read_info",
    "write_info",
]

DEVNET_JSON = "devnet.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TokenInfo:
    symbol: str
    address: str
    decimals: int


@dataclass(frozen=True)
class FeedInfo:
    pair: str
    address: str
    decimals: int


@dataclass(frozen=True)
class PoolInfo:
    pair: str
    address: str
    token0: str
    token1: str
    fee_bps: int


@dataclass(frozen=True)
class ChainContracts:
    settler: str
    bridge: str
    tokens: dict[str, TokenInfo]
    feeds: dict[str, FeedInfo]
    pools: dict[str, PoolInfo]
    permit2: str = ""          # Permit2 at its canonical address (code set by the devnet)

    def to_json(self) -> dict[str, Any]:
        return {
            "settler": self.settler,
            "bridge": self.bridge,
            "permit2": self.permit2,
            "tokens": {k: vars(v) for k, v in self.tokens.items()},
            "feeds": {k: vars(v) for k, v in self.feeds.items()},
            "pools": {k: vars(v) for k, v in self.pools.items()},
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ChainContracts:
        return cls(
            settler=doc["settler"],
            bridge=doc["bridge"],
            permit2=doc.get("permit2", ""),
            tokens={k: TokenInfo(**v) for k, v in doc["tokens"].items()},
            feeds={k: FeedInfo(**v) for k, v in doc["feeds"].items()},
            pools={k: PoolInfo(**v) for k, v in doc["pools"].items()},
        )


@dataclass(frozen=True)
class ChainInfo:
    name: str
    kind: str
    chain_id: int
    rpc_url: str
    pid: int
    log_file: str
    deploy_block: int
    contracts: ChainContracts

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "chain_id": self.chain_id, "rpc_url": self.rpc_url,
                "pid": self.pid, "log_file": self.log_file, "deploy_block": self.deploy_block,
                "contracts": self.contracts.to_json()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ChainInfo:
        return cls(doc["name"], doc["kind"], doc["chain_id"], doc["rpc_url"], doc["pid"], doc["log_file"],
                   doc["deploy_block"], ChainContracts.from_json(doc["contracts"]))


@dataclass(frozen=True)
class DevnetInfo:
    state_dir: str
    chains: tuple[ChainInfo, ...]
    accounts: tuple[DevAccount, ...] = ACCOUNTS
    solana: dict[str, Any] | None = None  # hook: set only once solana-local is started

    def chain(self, key: str | int) -> ChainInfo:
        """Chain by config name ("devnet-a") or chain id (31337)."""
        for chain in self.chains:
            if key in (chain.name, chain.chain_id):
                return chain
        raise KeyError(f"no devnet chain {key!r}")

    def account(self, role_or_index: str | int) -> DevAccount:
        """Account by index, or the first holding a role ("attester", "solver", "user", ...)."""
        return find_account(self.accounts, role_or_index)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "chains": [c.to_json() for c in self.chains],
            "accounts": [a.to_json() for a in self.accounts],
            "roles": _roles(self.accounts),
        }
        if self.solana is not None:
            doc["solana"] = self.solana
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any], state_dir: str) -> DevnetInfo:
        if doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"devnet.json version {doc.get('version')!r} unsupported (want {FORMAT_VERSION})")
        accounts = tuple(DevAccount(a["index"], a["address"], a["private_key"], tuple(a["roles"]))
                         for a in doc["accounts"])
        return cls(state_dir, tuple(ChainInfo.from_json(c) for c in doc["chains"]), accounts, doc.get("solana"))


def _roles(accounts: tuple[DevAccount, ...]) -> dict[str, list[int]]:
    roles: dict[str, list[int]] = {}
    for acct in accounts:
        for role in acct.roles:
            roles.setdefault(role, []).append(acct.index)
    return roles


def devnet_json_path(state_dir: str | os.PathLike) -> Path:
    return Path(state_dir) / DEVNET_JSON


def read_info(state_dir: str | os.PathLike) -> DevnetInfo | None:
    """The recorded devnet, or None if there is no (readable) devnet.json."""
    path = devnet_json_path(state_dir)
    try:
        return DevnetInfo.from_json(json.loads(path.read_text(encoding="utf-8")), str(state_dir))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return None


def write_info(info: DevnetInfo) -> Path:
    """Write devnet.json atomically (readers never see a half-written file)."""
    path = devnet_json_path(info.state_dir)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
