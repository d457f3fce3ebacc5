"""Shared by the test packages that drive the devnet chains directly (attester, funding,
rebalance, chains): a small web3 wrapper per chain and the snapshot/revert around each test.

A plain module (not a conftest): packages subclass :class:`DevChain` with the helpers they
need and build their fixtures with :func:`dev_chains` and :func:`reverted`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from web3 import Web3

__all__ = ["DevChain", "dev_chains", "reverted"]


@dataclass
class DevChain:
    name: str
    info: Any
    w3: Web3

    def rpc(self, method: str, *params):
        reply = self.w3.provider.make_request(method, list(params))
        assert "error" not in reply, reply
        return reply["result"]

    def head(self) -> int:
        return self.w3.eth.block_number

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def mine(self, n: int = 1) -> None:
        for _ in range(n):
            self.rpc("evm_mine")

    def nonce(self, who: str) -> int:
        return self.w3.eth.get_transaction_count(Web3.to_checksum_address(who))

    def send(self, fn, sender: str) -> dict:
        """Transact ``fn`` from ``sender`` and require success."""
        tx = fn.transact({"from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)
        assert receipt["status"] == 1, receipt
        return receipt


def dev_chains(cls: type[DevChain], devnet_info) -> tuple:
    """One ``cls`` per devnet chain, named devnet-a and devnet-b as in supervisor.yaml."""
    return tuple(cls(n, c, Web3(Web3.HTTPProvider(c.rpc_url, request_kwargs={"timeout": 10})))
                 for n, c in zip(("devnet-a", "devnet-b"), devnet_info.chains))


def reverted(chains: tuple) -> Iterator[tuple]:
    """Yield ``chains``, then put them back as they were (state, and automine on)."""
    snaps = [c.rpc("evm_snapshot") for c in chains]
    yield chains
    for c, snap in zip(chains, snaps):
        c.rpc("evm_setAutomine", True)
        c.rpc("evm_revert", snap)
