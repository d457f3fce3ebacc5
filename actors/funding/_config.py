"""The ``funding:`` config section, validated once at load into frozen dataclasses.

Amounts are decimal strings in units of the asset (``'0.5'`` ETH, ``'1000'`` USDC); they
are converted to base units with the asset's decimals when the config is checked against
the ``chains`` section (:meth:`FundingConfig.check_config`: the chain exists, the asset
is ``native`` or a token of that chain, the amounts fit the decimals, no two accounts
watch one balance). The source signer is never inline: ``source.key`` is a
:class:`Secret` taken from the environment (``${ORBITAL_TREASURY_KEY:-}``), or
``source.keystore`` names an encrypted JSON keystore file whose password comes from the
environment. An account without a key is not started (logged by the provider), so a node
without the treasury key still runs everything else.

An **allowance account** (``spender`` set) keeps an ERC-20 allowance instead of a balance:
``address`` is the owner (the operator's or a solver's inventory), ``spender`` the settler
of the chain (``settler``), Permit2 (``permit2``, :data:`PERMIT2`) or an address, and the
source signer is the owner's own key (only the owner can approve). The amounts bound the
allowance the same way (min, target, per top-up, daily cap of increases).
``reset_to_zero`` (allowance accounts only, refused elsewhere) is for tokens that refuse to
change a non-zero allowance (USDT): approve(0), then approve(target).

A Solana account (its ``chain`` is a ``kind: solana`` chain) has a base58 ``address``, an
asset that is ``native`` (SOL, 9 decimals) or a token symbol/mint of that chain, and a
Solana source: ``source.keypair`` (base58 of the 64-byte keypair, from the environment) or
``source.keypair_file`` (a JSON array file, as ``solana-keygen`` writes); an EVM
``key``/``keystore`` there, or a Solana keypair on an EVM account, is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, Optional

from eth_account import Account
from eth_utils import to_checksum_address

from chains.evm.config import ChainConfig, chains_of
from chains.directory import Directory, TokenRef, UnknownName
from chains.evm.signer import SignerConfig, to_units
from chains.evm.txsend import TxConfig
from chains.solana import SolanaChainConfig, keypair_from_base58, keypair_from_file, solana_chains_of
from protocol.accounts import EVM, SOLANA, ChainKind, parse_account
from runtime.config import Secret, opt

__all__ = ["SourceConfig", "AccountConfig", "FundingConfig", "AccountSpec", "SolanaToken",
           "NATIVE", "SOL_DECIMALS", "PERMIT2", "resolve", "funding_chains", "source_address"]

NATIVE = "native"
SOL_DECIMALS = 9                # lamports per SOL: 10**9
# Permit2's canonical address (the same on every EVM chain): ``spender: permit2``.
PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
_AMOUNT = r"\d{1,40}(\.\d{1,77})?"
_NAME = r"[a-z0-9][a-z0-9_\-]{0,62}"


@dataclass(frozen=True)
class SourceConfig(SignerConfig):
    """Who pays: a key from the environment, or an encrypted keystore file
    (:class:`chains.evm.signer.SignerConfig`), and when to say it runs low."""

    low_balance: str = opt("0", pattern=_AMOUNT,
                           doc="raise funding_source_low when the source holds less than "
                               "this (asset units); also raised when a top-up cannot be paid")
    keypair: Optional[Secret] = opt(None, doc="Solana: base58 of the 64-byte keypair, from "
                                              "${ENV_VAR} only; empty: not configured")
    keypair_file: str = opt("", doc="Solana: path of a JSON array keypair file (instead of "
                                    "keypair)")

    def check(self) -> None:
        super().check()
        if self.keypair and self.keypair_file:
            raise ValueError("set keypair or keypair_file, not both")
        if (self.key or self.keystore) and (self.keypair or self.keypair_file):
            raise ValueError("set an EVM signer (key, keystore) or a Solana one (keypair, "
                             "keypair_file), not both")
        if self.keypair:
            keypair_from_base58(str(self.keypair), "keypair")     # never quoted in errors
        if self.keypair_file:
            keypair_from_file(self.keypair_file, "keypair_file")

    @property
    def configured(self) -> bool:
        return super().configured or bool(self.keypair) or bool(self.keypair_file)

    @property
    def solana(self) -> bool:
        """A Solana signer (keypair or keypair_file) rather than an EVM one."""
        return bool(self.keypair) or bool(self.keypair_file)


@dataclass(frozen=True)
class AccountConfig:
    chain: str = opt(doc="a chain of the chains section (name or chain id)")
    address: str = opt(pattern=r"0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44}",
                       doc="the account kept funded: 0x on an EVM chain, base58 on Solana")
    min_balance: str = opt(pattern=_AMOUNT, doc="below this a top-up starts (asset units)")
    target_balance: str = opt(pattern=_AMOUNT, doc="a top-up aims at this balance")
    max_per_top_up: str = opt(pattern=_AMOUNT, doc="no single top-up is larger")
    daily_cap: str = opt(pattern=_AMOUNT, doc="top-ups of any rolling 24 h stay within it")
    asset: str = opt(NATIVE, doc="'native' (the chain's coin: ETH, SOL) or a token "
                                 "symbol/address (Solana: mint) of chains.<chain>.tokens")
    cooldown: float = opt(300.0, min=0, max=7 * 86_400,
                          doc="seconds after a top-up before the next one may start")
    poll_interval: float = opt(15.0, min=0.01, max=3600, doc="seconds between balance checks")
    source: SourceConfig = opt(factory=SourceConfig)
    spender: str = opt("", pattern=r"(settler|permit2|0x[0-9a-fA-F]{40})?",
                       doc="keep address's ERC-20 allowance to this spender (settler: the "
                           "chain's settler, permit2, or an address) instead of its balance; "
                           "the source is then address's own key")
    reset_to_zero: bool = opt(False, doc="allowance accounts only: for tokens that refuse to "
                                         "change a non-zero allowance (USDT), approve(0) then "
                                         "approve(target), recorded and sent as one step")

    def check(self) -> None:
        if Decimal(self.target_balance) < Decimal(self.min_balance):
            raise ValueError("target_balance must be >= min_balance")
        if Decimal(self.max_per_top_up) <= 0:
            raise ValueError("max_per_top_up must be > 0")


@dataclass(frozen=True)
class SolanaToken:
    """An SPL token of a Solana chain, as a funding account uses it."""

    symbol: str
    mint: str
    decimals: int


@dataclass(frozen=True)
class AccountSpec:
    """What one actor gets: its config resolved against ``chains`` into base units."""

    name: str
    config: AccountConfig
    chain_name: str
    chain_id: int
    rpc: tuple[str, ...]              # only what it uses of the chain: a watcher knob
    rpc_backoff_max: float            # changing does not restart the account
    token: TokenRef | None            # None: native
    decimals: int
    min_balance: int
    target_balance: int
    max_per_top_up: int
    daily_cap: int
    source_low: int
    tx: TxConfig
    history: int
    rpc_timeout: float
    kind: ChainKind = EVM
    spl: SolanaToken | None = None     # Solana: the SPL token (None: SOL)
    commitment: str = "confirmed"      # Solana: the chain's commitment (balance reads)
    spender: str = ""                  # an allowance account: the spender's address

    @property
    def asset(self) -> str:
        """What is kept: ``native``, a token symbol, or ``<symbol> allowance``."""
        if self.spl is not None:
            return self.spl.symbol
        if self.spender and self.token is not None:
            return f"{self.token.symbol} allowance"
        return self.token.symbol if self.token else NATIVE

    @property
    def native(self) -> bool:
        return self.token is None and self.spl is None


@dataclass(frozen=True)
class FundingConfig:
    accounts: dict[str, AccountConfig] = opt(factory=dict, pattern=_NAME,
                                             doc="name -> account (actor funding/<name>)")
    tx: TxConfig = opt(factory=TxConfig, doc="fees and replacement of top-up transactions")
    history: int = opt(10, min=1, max=1000, doc="recent top-ups shown per account")
    rpc_timeout: float = opt(10.0, min=0.05, max=300)
    ask_timeout: float = opt(1.0, min=0.01, max=60,
                             doc="ListFundingAccounts: wait this long for each actor, "
                                 "then answer from the store")

    def check_config(self, config: Any) -> None:
        chains = funding_chains(config)
        seen: dict[tuple, str] = {}
        for name in self.accounts:
            spec = resolve(self, name, chains)      # raises ValueError with the reason
            address = spec.config.address
            key = (spec.chain_name, address.lower() if spec.kind == EVM else address,
                   spec.asset, spec.spender.lower())
            if key in seen:
                to = f" to {spec.spender}" if spec.spender else ""
                raise ValueError(f"accounts.{name}: the same balance as accounts."
                                 f"{seen[key]} ({spec.asset}{to} of {spec.config.address} on "
                                 f"{spec.chain_name}); two actors would fund it twice")
            seen[key] = name


def funding_chains(config: Any) -> dict[str, ChainConfig | SolanaChainConfig]:
    """The chains a funding account may name: the EVM chains and the Solana chains. (Other
    EVM readers use :func:`chains.evm.config.chains_of`, which leaves Solana out.)"""
    out: dict[str, ChainConfig | SolanaChainConfig] = dict(chains_of(config))
    out.update(solana_chains_of(config))
    return out


class _Amounts(NamedTuple):
    min_balance: int
    target_balance: int
    max_per_top_up: int
    daily_cap: int
    source_low: int


def _amounts(name: str, cfg: AccountConfig, decimals: int) -> _Amounts:
    amounts = {}
    for key in ("min_balance", "target_balance", "max_per_top_up", "daily_cap"):
        try:
            amounts[key] = to_units(getattr(cfg, key), decimals)
        except ValueError as exc:
            raise ValueError(f"accounts.{name}.{key}: {exc}") from None
    try:
        amounts["source_low"] = to_units(cfg.source.low_balance, decimals)
    except ValueError as exc:
        raise ValueError(f"accounts.{name}.source.low_balance: {exc}") from None
    return _Amounts(**amounts)


def _address(name: str, cfg: AccountConfig, kind: ChainKind) -> None:
    try:
        parse_account(cfg.address, kind)
    except ValueError as exc:
        raise ValueError(f"accounts.{name}.address: {exc}") from None
    if kind == SOLANA and (cfg.source.key or cfg.source.keystore):
        raise ValueError(f"accounts.{name}.source: {cfg.chain} is a Solana chain: the source "
                         "is source.keypair (base58, from ${ENV_VAR}) or source.keypair_file, "
                         "not an EVM key or keystore")
    if kind == EVM and cfg.source.solana:
        raise ValueError(f"accounts.{name}.source: {cfg.chain} is an EVM chain: the source is "
                         "source.key or source.keystore, not a Solana keypair")
    if kind == SOLANA and cfg.spender:
        raise ValueError(f"accounts.{name}.spender: allowances are ERC-20's: {cfg.chain} is a "
                         "Solana chain")
    if cfg.reset_to_zero and not cfg.spender:
        raise ValueError(f"accounts.{name}.reset_to_zero: only an allowance account (spender "
                         "set) approves; a balance account has no allowance to reset")


def source_address(source: SourceConfig) -> str | None:
    """The source signer's address when the config alone says it (a key, or a remote
    signer's ``address``); None for a keystore (known once decrypted, at the actor's start)."""
    if source.remote:
        return source.address
    if source.key:
        try:
            return Account.from_key(str(source.key)).address
        except Exception:  # noqa: BLE001 - the message could quote the key
            raise ValueError("source.key is not a valid private key") from None
    return None


def _spender(name: str, cfg: AccountConfig, chain: ChainConfig, token: TokenRef | None) -> str:
    """The resolved spender of an allowance account ("" for a balance account)."""
    if not cfg.spender:
        return ""
    if token is None:
        raise ValueError(f"accounts.{name}.spender: an allowance is of an ERC-20: set asset "
                         "to a token of the chain, not native")
    if cfg.spender == "settler":
        if not chain.contracts.settler:
            raise ValueError(f"accounts.{name}.spender: chains.{cfg.chain} has no "
                             "contracts.settler")
        spender = chain.contracts.settler
    else:
        spender = PERMIT2 if cfg.spender == "permit2" else cfg.spender
    if int(spender, 16) == 0:
        raise ValueError(f"accounts.{name}.spender: the zero address")
    owner = source_address(cfg.source)
    if owner is not None and owner.lower() != cfg.address.lower():
        raise ValueError(f"accounts.{name}.source: an allowance is approved by its owner: the "
                         f"source must be the key of address {cfg.address}, not of {owner}")
    return to_checksum_address(spender)


def _resolve_solana(section: FundingConfig, name: str, chain_name: str,
                    chain: SolanaChainConfig) -> AccountSpec:
    cfg = section.accounts[name]
    _address(name, cfg, SOLANA)
    spl = None
    if cfg.asset.lower() != NATIVE:
        found = [SolanaToken(symbol, t.mint, t.decimals) for symbol, t in chain.tokens.items()
                 if cfg.asset == t.mint or cfg.asset.upper() == symbol.upper()]
        if not found:
            raise ValueError(f"accounts.{name}.asset: unknown token {cfg.asset!r} on "
                             f"{chain_name} (its tokens: {', '.join(sorted(chain.tokens)) or 'none'})")
        spl = found[0]
    decimals = spl.decimals if spl else SOL_DECIMALS
    return AccountSpec(name=name, config=cfg, chain_name=chain_name, chain_id=0,
                       rpc=tuple(chain.rpc), rpc_backoff_max=chain.rpc_backoff_max, token=None,
                       decimals=decimals, tx=section.tx, history=section.history,
                       rpc_timeout=section.rpc_timeout, kind=SOLANA, spl=spl,
                       commitment=chain.commitment, **_amounts(name, cfg, decimals)._asdict())


def resolve(section: FundingConfig, name: str,
            chains: Mapping[str, ChainConfig | SolanaChainConfig]) -> AccountSpec:
    cfg = section.accounts[name]
    solana = chains.get(cfg.chain)
    if isinstance(solana, SolanaChainConfig):
        return _resolve_solana(section, name, cfg.chain, solana)
    evm = {n: c for n, c in chains.items() if isinstance(c, ChainConfig)}
    directory = Directory(evm)
    try:
        chain = directory.chain(cfg.chain)
        token = None if cfg.asset.lower() == NATIVE else directory.token(chain.name, cfg.asset)
    except UnknownName as exc:
        raise ValueError(f"accounts.{name}: {exc}") from None
    _address(name, cfg, EVM)
    spender = _spender(name, cfg, evm[chain.name], token)
    decimals = token.decimals if token else 18
    return AccountSpec(name=name, config=cfg, chain_name=chain.name, chain_id=chain.chain_id,
                       spender=spender,
                       rpc=tuple(evm[chain.name].rpc),
                       rpc_backoff_max=evm[chain.name].rpc_backoff_max,
                       token=token, decimals=decimals, tx=section.tx,
                       history=section.history, rpc_timeout=section.rpc_timeout,
                       **_amounts(name, cfg, decimals)._asdict())
