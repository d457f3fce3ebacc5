"""The ``attester:`` config section, validated once at load into frozen dataclasses.

Who signs is a :class:`chains.evm.signer.SignerConfig`, its keys flat in the section as
funding's ``source``: ``key`` from the environment (``key: ${ORBITAL_ATTESTER_KEY:-}``, the
default of ``supervisor.yaml``), or ``keystore`` + ``password``, or ``remote`` + ``address``
(a remote signer's ``eth_signTransaction``: the node never holds that key). Never inline,
never in a repr or a log line; checked at load. No signer at all means "no attester on this
node": the provider starts nothing and says so in a log line, so a node without the key
still runs everything else.

How deep a fill must be before it is settled is the destination chain's
``chains.<name>.settlement_depth`` (per chain, with defaults by chain id: see
``chains.evm.config``), not a key of this section.

Fees, replacement and the gas margin are :class:`chains.evm.txsend.TxConfig`'s own fields
(``replace_after``, ``fee_bump``, ``max_fee_gwei``...): the section *is* a ``TxConfig``
(subclass) and is handed as is to the :class:`~chains.evm.txsend.TxSender` of each origin
chain, so the rules and their bounds are defined once, in ``chains/evm/txsend.py``; the
keys stay flat in the file (``attester.replace_after``), as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from chains.evm.config import ChainConfig
from chains.evm.signer import SignerConfig
from chains.evm.txsend import TxConfig
from chains.solana import SolanaChainConfig
from runtime.config import Secret, opt

__all__ = ["AttesterConfig", "AttesterSpec"]


@dataclass(frozen=True)
class AttesterConfig(TxConfig, SignerConfig):
    key: Optional[Secret] = opt(None, pattern=r"((0x)?[0-9a-fA-F]{64})?",
                                doc="attester private key, from ${ORBITAL_ATTESTER_KEY}; or "
                                    "keystore + password, or remote + address; none of "
                                    "them: the attester is not started")
    shortfall_policy: Literal["hold", "settle"] = opt(
        "hold", doc="a fill below the winning bid: hold (not repaid until an operator "
                    "decides, AdminService/DecideShortfall) or settle (repay, recorded)")
    batch_size: int = opt(20, min=1, max=500, doc="orders per settle transaction")
    poll_interval: float = opt(2.0, min=0.005, max=600, doc="seconds between rounds")
    max_retries: int = opt(3, min=1, max=100,
                           doc="reverted settlements of an order before it is FAILED (and "
                               "reverted refunds of an intent before refunds of it stop)")
    rpc_timeout: float = opt(10.0, min=0.05, max=300)
    chains: tuple[str, ...] = opt(factory=tuple,
                                  doc="origin chains settled by this node; empty = every "
                                      "configured chain with a settler")

    @property
    def enabled(self) -> bool:
        return self.configured


@dataclass(frozen=True)
class AttesterSpec:
    """What the actor gets: its section plus the chains it talks to (RPC, settler)."""

    config: AttesterConfig
    chains: dict[str, ChainConfig]          # every chain with a settler (destinations too)
    origins: tuple[str, ...]                # the chains it settles on
    # Solana chains that are intent destinations (a ``chain_id``): their fills are re-read
    # at ``finalized`` from these RPCs before an escrow is paid.
    solana: dict[str, SolanaChainConfig] = field(default_factory=dict)
