"""The ``bridge_relayer:`` config section and what the actor gets (its section and chains).

Who signs is a :class:`chains.evm.signer.SignerConfig`, its keys flat in the section:
``key`` from the environment (``${ORBITAL_RELAYER_KEY:-}``, the default), ``keystore`` +
``password``, or ``remote`` + ``address`` (``eth_signTransaction``: the node never holds
that key). Checked at load; none of them: the relayer is not started."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from chains.evm.config import ChainConfig
from chains.evm.signer import SignerConfig
from chains.evm.txsend import TxConfig
from runtime.config import Secret, opt

__all__ = ["RelayerConfig", "RelayerSpec"]


@dataclass(frozen=True)
class RelayerConfig(SignerConfig):
    key: Optional[Secret] = opt(None, pattern=r"((0x)?[0-9a-fA-F]{64})?",
                                doc="relayer private key, from ${ORBITAL_RELAYER_KEY}; or "
                                    "keystore + password, or remote + address; none of "
                                    "them: the relayer is not started")
    poll_interval: float = opt(1.0, min=0.01, max=3600)
    batch_size: int = opt(20, min=1, max=1000, doc="releases sent per round at most")
    max_retries: int = opt(3, min=1, max=100,
                           doc="reverted (or refused in simulation) releases of a deposit "
                               "before it is failed")
    chains: tuple[str, ...] = opt(factory=tuple,
                                  doc="chains relayed (both ends); empty = every chain "
                                      "with a bridge")
    tx: TxConfig = opt(factory=TxConfig)

    @property
    def enabled(self) -> bool:
        return self.configured


@dataclass(frozen=True)
class RelayerSpec:
    config: RelayerConfig
    chains: dict[str, ChainConfig]
