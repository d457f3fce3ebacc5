"""The ``rebalance:`` config section, validated once at load into frozen dataclasses.

One strategy = one token kept spread over several chains at target weights. Amounts in the
file are whole-token decimal strings (``'1000'`` USDC, ``'0.5'`` WETH), converted here to
base units with the token's decimals from the ``chains`` section, so the actor and the
planner only ever see integers. Cross-section facts (each chain exists, has a bridge and
lists the token, with one number of decimals everywhere) are checked in
:meth:`RebalanceConfig.check_config`, i.e. at load and at every reload, before anything
starts.

The inventory signer is a key from the environment (``key: ${ORBITAL_OPERATOR_KEY:-}``)
or an encrypted JSON keystore (``keystore: path`` + ``password: ${ENV}``); never inline.
An empty key and no keystore means "this strategy does not run on this node": the
provider starts nothing for it and logs why.
"""

from __future__ import annotations

from chains.evm.config import chains_of

from dataclasses import dataclass
from decimal import Decimal

from chains.evm.signer import SignerConfig, to_units, whole_tokens
from chains.evm.txsend import TxConfig
from runtime.config import opt

__all__ = ["SignerConfig", "StrategyConfig", "RebalanceConfig", "Leg", "StrategySpec",
           "to_units", "WEIGHT_EPSILON"]

WEIGHT_EPSILON = Decimal("0.000001")
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"


def _check_amount(text: str) -> None:
    if text != "":
        whole_tokens(text)


@dataclass(frozen=True)
class StrategyConfig:
    token: str = opt(pattern=r"[A-Za-z0-9]{1,16}", doc="token symbol, listed on every chain")
    weights: dict[str, float] = opt(factory=dict, doc="chain -> target weight; sum 1")
    tolerance: float = opt(0.05, min=0.0, max=0.5,
                           doc="band half-width: no move while every |weight - target| "
                               "<= tolerance")
    min_transfer: str = opt("0", validate=_check_amount,
                            doc="whole tokens; a smaller needed move is not made")
    max_transfer: str = opt("", validate=_check_amount,
                            doc="whole tokens; a bigger move is capped; empty = no cap")
    cooldown: float = opt(60.0, min=0.0, max=7 * 86400,
                          doc="seconds after a move ends before the next one starts")
    dry_run: bool = opt(False, doc="record planned moves, send nothing")
    poll_interval: float = opt(5.0, min=0.01, max=3600)
    move_timeout: float = opt(600.0, min=0.01, max=7 * 86400,
                              doc="seconds from the deposit's record to its release before "
                                  "the move is stuck (alert rebalance_move_stuck)")
    signer: SignerConfig = opt(factory=SignerConfig)
    gas_limit: int = opt(0, min=0, max=30_000_000,
                         doc="deposit gas; 0 = eth_estimateGas x tx.gas_margin")
    tx: TxConfig = opt(factory=TxConfig, doc="fees and replacement of stuck transactions")
    enabled: bool = opt(True)
    history: int = opt(20, min=1, max=1000, doc="finished moves shown by ListStrategies")

    def check(self) -> None:
        if len(self.weights) < 2:
            raise ValueError("weights: at least two chains are needed")
        total = Decimal(0)
        for chain, w in self.weights.items():
            if not 0.0 <= w <= 1.0:
                raise ValueError(f"weights.{chain}: expected 0..1, got {w}")
            total += Decimal(str(w))
        if abs(total - 1) > WEIGHT_EPSILON:
            raise ValueError(f"weights must sum to 1, they sum to {total}")
        if self.max_transfer and whole_tokens(self.max_transfer) < whole_tokens(self.min_transfer):
            raise ValueError("min_transfer must be <= max_transfer")
        if self.max_transfer and whole_tokens(self.max_transfer) == 0:
            raise ValueError("max_transfer: 0 would never move; leave it empty for no cap")


@dataclass(frozen=True)
class RebalanceConfig:
    strategies: dict[str, StrategyConfig] = opt(factory=dict, pattern=_NAME)

    def check_config(self, config) -> None:
        chains = chains_of(config)
        for name, s in self.strategies.items():
            decimals = set()
            for chain in s.weights:
                c = chains.get(chain)
                if c is None:
                    raise ValueError(f"strategies.{name}.weights: unknown chain {chain!r}; "
                                     f"known: {', '.join(sorted(chains)) or 'none'}")
                if not c.contracts.bridge:
                    raise ValueError(f"strategies.{name}: chain {chain} has no "
                                     f"contracts.bridge")
                tok = {k.upper(): v for k, v in c.tokens.items()}.get(s.token.upper())
                if tok is None:
                    raise ValueError(f"strategies.{name}: token {s.token} is not listed "
                                     f"under chains.{chain}.tokens")
                decimals.add(tok.decimals)
            if len(decimals) > 1:
                raise ValueError(f"strategies.{name}: {s.token} has different decimals "
                                 f"on its chains ({sorted(decimals)})")
            dec = decimals.pop()
            for field in ("min_transfer", "max_transfer"):
                text = getattr(s, field)
                if text:
                    try:
                        to_units(text, dec)
                    except ValueError as exc:
                        raise ValueError(f"strategies.{name}.{field}: {exc}") from None


@dataclass(frozen=True)
class Leg:
    """One chain of a strategy, resolved from the ``chains`` section."""

    chain: str
    chain_id: int
    rpc: tuple[str, ...]
    rpc_timeout: float
    rpc_backoff_max: float
    bridge: str            # checksummed
    token: str             # checksummed address of the strategy's token there
    target: float


@dataclass(frozen=True)
class StrategySpec:
    """What one ``rebalance/<name>`` actor gets (equal spec = unchanged on reload)."""

    name: str
    config: StrategyConfig
    legs: tuple[Leg, ...]
    decimals: int
    min_units: int
    max_units: int | None

    @classmethod
    def build(cls, name: str, s: StrategyConfig, chains: dict) -> StrategySpec:
        from eth_utils import to_checksum_address
        legs, dec = [], 0
        for chain, target in sorted(s.weights.items()):
            c = chains[chain]
            tok = {k.upper(): v for k, v in c.tokens.items()}[s.token.upper()]
            dec = tok.decimals
            legs.append(Leg(chain, c.chain_id, tuple(c.rpc), c.rpc_timeout, c.rpc_backoff_max,
                            to_checksum_address(c.contracts.bridge),
                            to_checksum_address(tok.address), target))
        return cls(name, s, tuple(legs), dec, to_units(s.min_transfer or "0", dec),
                   to_units(s.max_transfer, dec) if s.max_transfer else None)
