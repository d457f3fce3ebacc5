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
"""

from __future__ import annotations

from chains.evm.config import chains_of

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chains.evm.config import ChainConfig
from chains.directory import Directory, TokenRef, UnknownName
from chains.evm.signer import SignerConfig, to_units
from chains.evm.txsend import TxConfig
from runtime.config import opt

__all__ = ["SourceConfig", "AccountConfig", "FundingConfig", "AccountSpec", "NATIVE", "resolve"]

NATIVE = "native"
_AMOUNT = r"\d{1,40}(\.\d{1,77})?"
_NAME = r"[a-z0-9][a-z0-9_\-]{0,62}"


@dataclass(frozen=True)
class SourceConfig(SignerConfig):
    """Who pays: a key from the environment, or an encrypted keystore file
    (:class:`chains.evm.signer.SignerConfig`), and when to say it runs low."""

    low_balance: str = opt("0", pattern=_AMOUNT,
                           doc="raise funding_source_low when the source holds less than "
                               "this (asset units); also raised when a top-up cannot be paid")


@dataclass(frozen=True)
class AccountConfig:
    chain: str = opt(doc="a chain of the chains section (name or chain id)")
    address: str = opt(pattern=r"0x[0-9a-fA-F]{40}", doc="the account kept funded")
    min_balance: str = opt(pattern=_AMOUNT, doc="below this a top-up starts (asset units)")
    target_balance: str = opt(pattern=_AMOUNT, doc="a top-up aims at this balance")
    max_per_top_up: str = opt(pattern=_AMOUNT, doc="no single top-up is larger")
    daily_cap: str = opt(pattern=_AMOUNT, doc="top-ups of any rolling 24 h stay within it")
    asset: str = opt(NATIVE, doc="'native' (the chain's coin) or a token symbol/address "
                                 "of chains.<chain>.tokens")
    cooldown: float = opt(300.0, min=0, max=7 * 86_400,
                          doc="seconds after a top-up before the next one may start")
    poll_interval: float = opt(15.0, min=0.01, max=3600, doc="seconds between balance checks")
    source: SourceConfig = opt(factory=SourceConfig)

    def check(self) -> None:
        if Decimal(self.target_balance) < Decimal(self.min_balance):
            raise ValueError("target_balance must be >= min_balance")
        if Decimal(self.max_per_top_up) <= 0:
            raise ValueError("max_per_top_up must be > 0")


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

    @property
    def asset(self) -> str:
        return self.token.symbol if self.token else NATIVE


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
        chains = chains_of(config)
        seen: dict[tuple, str] = {}
        for name in self.accounts:
            spec = resolve(self, name, chains)      # raises ValueError with the reason
            key = (spec.chain_name, spec.config.address.lower(), spec.asset)
            if key in seen:
                raise ValueError(f"accounts.{name}: the same balance as accounts."
                                 f"{seen[key]} ({spec.asset} of {spec.config.address} on "
                                 f"{spec.chain_name}); two actors would fund it twice")
            seen[key] = name


def resolve(section: FundingConfig, name: str, chains: dict[str, ChainConfig]) -> AccountSpec:
    cfg = section.accounts[name]
    evm = {n: c for n, c in chains.items() if getattr(c, "kind", "evm") == "evm"}
    directory = Directory(evm)
    try:
        chain = directory.chain(cfg.chain)
        token = None if cfg.asset.lower() == NATIVE else directory.token(chain.name, cfg.asset)
    except UnknownName as exc:
        raise ValueError(f"accounts.{name}: {exc}") from None
    decimals = token.decimals if token else 18
    amounts = {}
    for key in ("min_balance", "target_balance", "max_per_top_up", "daily_cap"):
        try:
            amounts[key] = to_units(getattr(cfg, key), decimals)
        except ValueError as exc:
            raise ValueError(f"accounts.{name}.{key}: {exc}") from None
    try:
        source_low = to_units(cfg.source.low_balance, decimals)
    except ValueError as exc:
        raise ValueError(f"accounts.{name}.source.low_balance: {exc}") from None
    return AccountSpec(name=name, config=cfg, chain_name=chain.name, chain_id=chain.chain_id,
                       rpc=tuple(evm[chain.name].rpc),
                       rpc_backoff_max=evm[chain.name].rpc_backoff_max,
                       token=token, decimals=decimals, source_low=source_low, tx=section.tx,
                       history=section.history, rpc_timeout=section.rpc_timeout, **amounts)
