"""The Solana side of the solver's configuration: chains it fills on, and its Solana key.

Why apart from the EVM chains: a Solana chain has no settler and no 0x tokens; the solver
fills there with an SPL ``TransferChecked`` from its own associated token account plus a
Memo v2 carrying the order id (docs/solana.md, "fill format"), signed with an ed25519 key
that is not its EVM key. The escrow on the EVM origin still repays the solver's EVM address
(named at ``openFor``); the Solana key only pays.

Where a chain comes from: ``solana_chains`` in the YAML, else the devnet's ``solana`` entry
of devnet.json (solana-local, chain id 900, its USDC mint). A devnet chain taken by default
is served only when a Solana key is at hand; a chain configured explicitly without a key is
an error. The key: the env var ``solana_key_env`` (base58 of the 64-byte keypair, the form
``solana-keygen`` and devnet.json show), else ``solana_key_file`` (a JSON array of 64
bytes, the ``solana-keygen`` file), else on a devnet ``solana_devnet_account`` (a role or
index of devnet.json's Solana accounts; default: the EVM ``devnet_account``). It lives only
in :class:`SolanaKey`, whose repr shows the public key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solders.keypair import Keypair

from protocol.accounts import SOLANA, parse_account
from runtime.config import opt

from ._errors import SolverConfigError

__all__ = ["DEFAULT_SOLANA_KEY_ENV", "SolanaChainEntry", "SolanaChainSpec", "SolanaKey",
           "SolanaToken", "SolanaTokenEntry", "resolve_solana"]

DEFAULT_SOLANA_KEY_ENV = "ORBITAL_SOLVER_SOLANA_KEY"
COMMITMENTS = ("confirmed", "finalized")


class SolanaKey:
    """The solver's Solana keypair. Signs fills; never shows its secret (repr, str, errors)."""

    __slots__ = ("_keypair",)

    def __init__(self, keypair: Keypair) -> None:
        self._keypair = keypair

    @classmethod
    def from_base58(cls, value: str, source: str) -> SolanaKey:
        try:
            return cls(Keypair.from_base58_string(value.strip()))
        except Exception:  # solders raises ValueError variants; never echo the secret
            raise SolverConfigError(f"{source}: not a base58 64-byte Solana keypair") from None

    @classmethod
    def from_file(cls, path: str, source: str) -> SolanaKey:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SolverConfigError(f"{source}: key file {path} not found") from None
        except (OSError, ValueError):
            raise SolverConfigError(f"{source}: key file {path} is not JSON") from None
        if not (isinstance(doc, list) and len(doc) == 64
                and all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in doc)):
            raise SolverConfigError(f"{source}: key file {path} must hold a JSON array of 64 bytes")
        try:
            return cls(Keypair.from_bytes(bytes(doc)))
        except Exception:
            raise SolverConfigError(f"{source}: key file {path}: the public half does not match "
                                    "the secret") from None

    @property
    def pubkey(self) -> str:
        return str(self._keypair.pubkey())

    @property
    def keypair(self) -> Keypair:
        return self._keypair

    def __repr__(self) -> str:
        return f"SolanaKey({self.pubkey})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickled/copied into another process by accident
        raise TypeError("SolanaKey is not picklable")


@dataclass(frozen=True)
class SolanaToken:
    symbol: str
    mint: str
    decimals: int


@dataclass(frozen=True)
class SolanaChainSpec:
    """One Solana chain the solver fills on: RPC URLs (failover in order), Orbital's chain id
    of it (orders' destinationChainId), its SPL tokens, and the commitment a fill must reach
    before it is reported."""

    name: str
    chain_id: int
    rpc_urls: tuple[str, ...]
    tokens: Mapping[str, SolanaToken]        # SYMBOL -> token
    commitment: str = "confirmed"
    min_lamports: int = 10_000_000           # SOL kept for fees and a recipient's token account

    def token(self, mint: str) -> SolanaToken | None:
        """The token of exactly this mint (base58 is case-sensitive: no normalising)."""
        return next((t for t in self.tokens.values() if t.mint == mint), None)

    def symbol_of(self, mint: str) -> str | None:
        token = self.token(mint)
        return token.symbol if token is not None else None


# ---- the YAML shape ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SolanaTokenEntry:
    mint: str = opt("", doc="the SPL mint, base58")
    decimals: int = opt(-1, min=-1, max=255, doc="the mint's decimals")


@dataclass(frozen=True)
class SolanaChainEntry:
    rpc: list[str] = opt(factory=list, doc="JSON-RPC URLs, in failover order; default: the devnet's")
    chain_id: int = opt(0, min=0, doc="orders' destinationChainId for it; default: the devnet's")
    tokens: dict[str, SolanaTokenEntry] = opt(factory=dict, doc="SYMBOL: {mint, decimals}")
    commitment: str = opt("confirmed", pattern=r"confirmed|finalized",
                          doc="a fill is reported once its transaction reaches this")
    min_sol: float = opt(0.01, min=0.0, max=1000.0,
                         doc="SOL below which the solver bids nothing here (fees, rent)")


def _devnet_chain(solana: Mapping[str, Any] | None) -> tuple[str, SolanaChainEntry] | None:
    if not solana:
        return None
    tokens = {s: SolanaTokenEntry(t["mint"], int(t["decimals"])) for s, t in solana.get("tokens", {}).items()}
    return solana["name"], SolanaChainEntry([solana["rpc_url"]], int(solana["chain_id"]), tokens)


def resolve_solana(entries: Mapping[str, SolanaChainEntry], devnet_solana: Mapping[str, Any] | None,
                   *, key_env: str, key_file: str, devnet_account: str, account_explicit: bool,
                   env: Mapping[str, str]) -> tuple[tuple[SolanaChainSpec, ...], SolanaKey | None]:
    """The Solana chains and key, or ((), None) when the solver serves no Solana chain.
    ``account_explicit``: ``devnet_account`` was given as ``solana_devnet_account`` (not
    inherited from the EVM one), so a devnet without Solana is an error."""
    default = _devnet_chain(devnet_solana)
    explicit = bool(entries)
    names = list(entries) or ([default[0]] if default else [])
    key = _key(devnet_solana, key_env=key_env, key_file=key_file, devnet_account=devnet_account,
               account_explicit=account_explicit, env=env)
    if not names:
        return (), None
    if key is None:
        if explicit:
            raise SolverConfigError(f"solana_chains: no Solana key: set ${key_env}, or solana_key_file, "
                                    "or solana_devnet_account on a devnet")
        return (), None     # a devnet's chain taken by default, no key: EVM only
    out = []
    for name in names:
        entry = entries.get(name) or SolanaChainEntry()
        base = default[1] if default and default[0] == name else SolanaChainEntry()
        where = f"solana_chains.{name}"
        rpc = tuple(entry.rpc or base.rpc)
        chain_id = entry.chain_id or base.chain_id
        if not rpc:
            raise SolverConfigError(f"{where}.rpc: required (not the devnet's Solana chain)")
        for i, url in enumerate(rpc):
            if not url.startswith(("http://", "https://")):
                raise SolverConfigError(f"{where}.rpc[{i}]: expected an http(s) URL, got {url!r}")
        if not chain_id:
            raise SolverConfigError(f"{where}.chain_id: required (not the devnet's Solana chain)")
        tokens: dict[str, SolanaToken] = {}
        for symbol, t in {**base.tokens, **entry.tokens}.items():
            try:
                mint = parse_account(t.mint, SOLANA)
            except ValueError as exc:
                raise SolverConfigError(f"{where}.tokens.{symbol}.mint: {exc}") from None
            if t.decimals < 0:
                raise SolverConfigError(f"{where}.tokens.{symbol}.decimals: required (0..255)")
            if any(o.mint == mint for o in tokens.values()):
                raise SolverConfigError(f"{where}.tokens.{symbol}.mint: listed twice")
            tokens[symbol.upper()] = SolanaToken(symbol.upper(), mint, t.decimals)
        if not tokens:
            raise SolverConfigError(f"{where}.tokens: at least one SPL token is required")
        out.append(SolanaChainSpec(name, int(chain_id), rpc, tokens, entry.commitment,
                                   int(round(entry.min_sol * 10**9))))
    return tuple(out), key


def _key(solana: Mapping[str, Any] | None, *, key_env: str, key_file: str, devnet_account: str,
         account_explicit: bool, env: Mapping[str, str]) -> SolanaKey | None:
    value = env.get(key_env)
    if value:
        return SolanaKey.from_base58(value, key_env)
    if key_file:
        return SolanaKey.from_file(key_file, "solana_key_file")
    if not devnet_account:
        return None
    if not solana:
        if account_explicit:
            raise SolverConfigError("solana_devnet_account: the devnet runs no Solana chain")
        return None
    accounts = solana.get("accounts", [])
    wanted = devnet_account
    for acct in accounts:
        if (wanted.isdigit() and int(wanted) == acct["index"]) or wanted in acct.get("roles", ()):
            return SolanaKey.from_base58(acct["secret_key"], "solana_devnet_account")
    raise SolverConfigError(f"solana_devnet_account: no devnet Solana account {wanted!r}")
