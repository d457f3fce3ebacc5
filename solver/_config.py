"""The reference solver's configuration: a YAML file and/or flags and env, validated once.

Why one frozen :class:`SolverConfig`: the session, the inventory and the chain executors all
read it from several threads, so it is built (and every mistake reported with file, line and
key) before anything connects. Chains default to the devnet's ``devnet.json`` (the file every
Orbital client reads to find RPC URLs and settlers); a YAML ``chains`` entry overrides or adds.

The key is read from an env var (``ORBITAL_SOLVER_KEY`` by default) or an encrypted keystore
file; it lives only inside :class:`SolverKey`, whose repr shows the address, never the key.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eth_account import Account
from eth_account.messages import SignableMessage
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from protocol.transport import TlsOptions
from runtime import Backoff
from runtime.config import build, opt, parse_yaml

from ._errors import SolverConfigError
from ._solana_config import (DEFAULT_SOLANA_KEY_ENV, SolanaChainEntry, SolanaChainSpec, SolanaKey,
                             resolve_solana)

__all__ = ["ChainSpec", "SolverAccount", "SolverConfig", "SolverConfigError", "SolverKey",
           "load_config"]

DEFAULT_KEY_ENV = "ORBITAL_SOLVER_KEY"
DEFAULT_PASSWORD_ENV = "ORBITAL_SOLVER_KEYSTORE_PASSWORD"


class SolverAccount(Protocol):
    """What signs for a solver: an ``eth_account`` local account, or (the in-house solver)
    any signer with the same three members, such as a remote signer that holds the key
    outside the process. The session challenge is signed with ``sign_message`` (EIP-191),
    transactions with ``sign_transaction``."""

    @property
    def address(self) -> str: ...

    def sign_message(self, signable_message: SignableMessage) -> Any: ...

    def sign_transaction(self, transaction_dict: dict[str, Any]) -> Any: ...


class SolverKey:
    """The solver's signer. Signs; never shows a key (repr, str, logs, errors)."""

    __slots__ = ("_account",)

    def __init__(self, account: SolverAccount | LocalAccount) -> None:
        self._account = account

    @classmethod
    def from_hex(cls, value: str, source: str) -> SolverKey:
        try:
            return cls(Account.from_key(value.strip()))
        except Exception:  # eth_account raises several types; the message must not echo the key
            raise SolverConfigError(f"{source}: not a 32-byte hex private key") from None

    @classmethod
    def from_keystore(cls, path: str, password: str | None, source: str) -> SolverKey:
        if password is None:
            raise SolverConfigError(f"{source}: keystore {path} needs a password env var")
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(Account.from_key(Account.decrypt(doc, password)))
        except FileNotFoundError:
            raise SolverConfigError(f"{source}: keystore {path} not found") from None
        except Exception:
            raise SolverConfigError(f"{source}: cannot decrypt keystore {path} (wrong password "
                                    f"or not a keystore)") from None

    @property
    def address(self) -> ChecksumAddress:
        return to_checksum_address(self._account.address)

    @property
    def account(self) -> SolverAccount | LocalAccount:
        return self._account

    def __repr__(self) -> str:
        return f"SolverKey({self.address})"

    __str__ = __repr__

    def __reduce__(self):  # never pickled/copied into another process by accident
        raise TypeError("SolverKey is not picklable")


@dataclass(frozen=True)
class ChainSpec:
    """One chain the solver serves: where to send transactions, which settler, which tokens."""

    name: str
    chain_id: int
    rpc_url: str
    settler: str
    tokens: Mapping[str, str]          # SYMBOL -> checksum address

    def token_address(self, symbol_or_address: str) -> str | None:
        if is_address(symbol_or_address):
            addr = to_checksum_address(symbol_or_address)
            return addr if addr in self.tokens.values() else None
        return self.tokens.get(symbol_or_address.upper())

    def symbol_of(self, address: str) -> str | None:
        addr = to_checksum_address(address)
        return next((s for s, a in self.tokens.items() if a == addr), None)


@dataclass(frozen=True)
class SolverConfig:
    target: str
    key: SolverKey = field(repr=True)
    chains: tuple[ChainSpec, ...]
    tls: TlsOptions | None = None       # None: plaintext (a node on loopback)
    tokens: tuple[str, ...] = ()        # served output token symbols; empty = every token
    improvement_bps: int = 10
    max_parallel: int = 4
    rpc_timeout: float = 10.0
    receipt_timeout: float = 30.0
    grpc_timeout: float = 10.0
    backoff: Backoff = Backoff(initial=0.2, maximum=10.0, reset_after=30.0)
    solana_chains: tuple[SolanaChainSpec, ...] = ()
    solana_key: SolanaKey | None = None   # set exactly when solana_chains is not empty
    state_dir: str = "var/solver"         # where the Solana fill journal lives

    @property
    def address(self) -> str:
        return self.key.address

    @property
    def chain_ids(self) -> tuple[int, ...]:
        """Every chain served (EVM and Solana): what the session hello declares."""
        return tuple(c.chain_id for c in self.chains) + tuple(c.chain_id for c in self.solana_chains)

    def chain(self, key: str | int) -> ChainSpec:
        for c in self.chains:
            if key in (c.name, c.chain_id) or str(key) == str(c.chain_id):
                return c
        raise KeyError(f"solver serves no chain {key!r}")

    def serves_token(self, chain: ChainSpec | SolanaChainSpec, address: str) -> bool:
        symbol = chain.symbol_of(address)
        if symbol is None:
            return False
        return not self.tokens or symbol in self.tokens


# ---- the YAML file (also the shape flags are merged into) -----------------------------------
@dataclass(frozen=True)
class ChainEntry:
    rpc_url: str = opt("", doc="JSON-RPC URL; default: the devnet's")
    chain_id: int = opt(0, min=0, doc="default: the devnet's")
    settler: str = opt("", doc="settler address; default: the devnet's")
    tokens: dict[str, str] = opt(factory=dict, doc="SYMBOL: address; default: the devnet's")


@dataclass(frozen=True)
class BackoffEntry:
    initial: float = opt(0.2, min=0.0, max=60.0)
    max: float = opt(10.0, min=0.0, max=3600.0)


@dataclass(frozen=True)
class SolverFile:
    target: str = opt("127.0.0.1:50051", doc="the node's gRPC address")
    tls_ca: str = opt("", doc="TLS: CA of the node's certificate (a node off loopback)")
    tls_cert: str = opt("", doc="TLS: client certificate (mutual TLS), with tls_key")
    tls_key: str = opt("", doc="TLS: the client certificate's private key")
    tls: bool = opt(False, doc="TLS with the system's roots (without tls_ca)")
    key_env: str = opt(DEFAULT_KEY_ENV, pattern=r"[A-Za-z_][A-Za-z0-9_]*")
    keystore: str = opt("", doc="encrypted JSON keystore; its password from password_env")
    password_env: str = opt(DEFAULT_PASSWORD_ENV, pattern=r"[A-Za-z_][A-Za-z0-9_]*")
    devnet_dir: str = opt("var", doc="state dir whose devnet.json lists chains (and keys)")
    devnet_account: str = opt("", doc="dev only: use this devnet role's key, e.g. solver")
    chains: dict[str, ChainEntry] = opt(factory=dict, doc="empty: every devnet chain")
    tokens: list[str] = opt(factory=list, doc="output token symbols served; empty: all")
    improvement_bps: int = opt(10, min=0, max=10_000, doc="bid = min output * (1 + bps)")
    max_parallel: int = opt(4, min=1, max=64, doc="awards executed at once")
    rpc_timeout: float = opt(10.0, min=0.1, max=300.0)
    receipt_timeout: float = opt(30.0, min=0.1, max=3600.0)
    grpc_timeout: float = opt(10.0, min=0.1, max=300.0)
    backoff: BackoffEntry = opt(factory=BackoffEntry)
    solana_chains: dict[str, SolanaChainEntry] = opt(
        factory=dict, doc="Solana chains filled on; empty: the devnet's, when a Solana key is set")
    solana_key_env: str = opt(DEFAULT_SOLANA_KEY_ENV, pattern=r"[A-Za-z_][A-Za-z0-9_]*",
                              doc="env var with the base58 64-byte Solana keypair")
    solana_key_file: str = opt("", doc="Solana keypair file: a JSON array of 64 bytes")
    solana_devnet_account: str = opt("", doc="dev only: this devnet Solana role's key; "
                                             "default: devnet_account")
    state_dir: str = opt("var/solver", doc="the solver's own state (the Solana fill journal)")


def load_config(path: str | None = None, *, env: Mapping[str, str] | None = None,
                **overrides: Any) -> SolverConfig:
    """Config from ``path`` (YAML, optional), then ``overrides`` (flags; None = not given)."""
    env = os.environ if env is None else env
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SolverConfigError(f"{path}: {exc.strerror}") from None
        try:
            raw = build(SolverFile, parse_yaml(text, path, env), path)
        except Exception as exc:  # runtime.ConfigError: file, line, key, expected
            raise SolverConfigError(str(exc)) from None
    else:
        raw = SolverFile()
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {f.name for f in dataclasses.fields(SolverFile)}
    if unknown:
        raise TypeError(f"unknown solver options: {', '.join(sorted(unknown))}")
    if "tokens" in given:
        given["tokens"] = list(given["tokens"])
    raw = dataclasses.replace(raw, **given)
    return resolve(raw, env)


def resolve(raw: SolverFile, env: Mapping[str, str]) -> SolverConfig:
    from devnet.info import read_info  # lazy: only the config edge needs the devnet format

    info = read_info(raw.devnet_dir) if raw.devnet_dir else None
    chains = _chains(raw, info)
    key = _key(raw, env, info)
    solana_chains, solana_key = resolve_solana(
        raw.solana_chains, info.solana if info else None, key_env=raw.solana_key_env,
        key_file=raw.solana_key_file, devnet_account=raw.solana_devnet_account or raw.devnet_account,
        account_explicit=bool(raw.solana_devnet_account), env=env)
    ids = [c.chain_id for c in chains] + [c.chain_id for c in solana_chains]
    if len(set(ids)) != len(ids):
        raise SolverConfigError("solana_chains: a Solana chain shares its chain id with another chain")
    tokens = tuple(t.upper() for t in raw.tokens)
    for symbol in tokens:
        if not any(symbol in c.tokens for c in chains) and \
                not any(symbol in c.tokens for c in solana_chains):
            raise SolverConfigError(f"tokens: {symbol} is not a token of any served chain")
    try:
        tls = (TlsOptions(raw.tls_ca or None, raw.tls_cert or None, raw.tls_key or None)
               if raw.tls or raw.tls_ca or raw.tls_cert or raw.tls_key else None)
    except ValueError as exc:
        raise SolverConfigError(f"tls_cert, tls_key: {exc}") from None
    return SolverConfig(
        target=raw.target, tls=tls, key=key, chains=chains, tokens=tokens,
        improvement_bps=raw.improvement_bps, max_parallel=raw.max_parallel,
        rpc_timeout=raw.rpc_timeout, receipt_timeout=raw.receipt_timeout, grpc_timeout=raw.grpc_timeout,
        backoff=Backoff(initial=raw.backoff.initial, maximum=raw.backoff.max, reset_after=30.0),
        solana_chains=solana_chains, solana_key=solana_key, state_dir=raw.state_dir)


def _chains(raw: SolverFile, info: Any) -> tuple[ChainSpec, ...]:
    known = {c.name: c for c in info.chains if c.kind == "evm"} if info else {}
    names = list(raw.chains) or list(known)
    if not names:
        raise SolverConfigError(f"chains: none configured and no devnet.json in {raw.devnet_dir!r}")
    out = []
    for name in names:
        entry, base = raw.chains.get(name, ChainEntry()), known.get(name)
        tokens = {s: t.address for s, t in base.contracts.tokens.items()} if base else {}
        tokens.update(entry.tokens)
        rpc_url: str = entry.rpc_url or (base.rpc_url if base else "")
        chain_id: int = entry.chain_id or (base.chain_id if base else 0)
        settler: str = entry.settler or (base.contracts.settler if base else "")
        for k, v in (("rpc_url", rpc_url), ("chain_id", chain_id), ("settler", settler)):
            if not v:
                raise SolverConfigError(f"chains.{name}.{k}: required (not a devnet chain)")
        for k, a in [("settler", settler)] + [(f"tokens.{s}", a) for s, a in tokens.items()]:
            if not is_address(a):
                raise SolverConfigError(f"chains.{name}.{k}: expected a 0x address, got {a!r}")
        out.append(ChainSpec(name, int(chain_id), rpc_url, to_checksum_address(settler),
                             {s.upper(): to_checksum_address(a) for s, a in tokens.items()}))
    ids = [c.chain_id for c in out]
    if len(set(ids)) != len(ids):
        raise SolverConfigError("chains: two chains share a chain id")
    return tuple(out)


def _key(raw: SolverFile, env: Mapping[str, str], info: Any) -> SolverKey:
    if raw.keystore:
        return SolverKey.from_keystore(raw.keystore, env.get(raw.password_env), "keystore")
    value = env.get(raw.key_env)
    if value:
        return SolverKey.from_hex(value, raw.key_env)
    if raw.devnet_account:
        if info is None:
            raise SolverConfigError(f"devnet_account: no devnet.json in {raw.devnet_dir!r}")
        try:
            acct = info.account(int(raw.devnet_account) if raw.devnet_account.isdigit() else raw.devnet_account)
        except (KeyError, IndexError):
            raise SolverConfigError(f"devnet_account: no devnet account {raw.devnet_account!r}") from None
        return SolverKey.from_hex(acct.private_key, "devnet_account")
    raise SolverConfigError(f"no key: set ${raw.key_env}, or keystore (+ ${raw.password_env}), "
                            f"or devnet_account on a devnet")
