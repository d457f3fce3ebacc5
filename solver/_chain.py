"""One EVM chain as the solver uses it: balances, and signed transactions to the settler.

Who picks the nonce. Standalone (``orbital-solver``, its own key): a local counter, since
awards run in parallel and asking the node for the pending count before each send races
with our own in-flight transactions. The counter is seeded from
``eth_getTransactionCount(pending)`` and reseeded whenever a send fails, so a transaction
sent by someone else with the same key (or a dropped one) costs one retry, not a stuck queue.
Inside a node (the in-house solver) a :class:`TxGateway` is given instead: the node's one
transaction sender signs, records and broadcasts, so the solver shares one nonce stream
with every other actor of the node signing with that key (the rebalance strategies on the
operator key) and never holds a counter of its own.

Every transaction is estimated first: a revert the settler would raise now (order already
opened or filled by a faster filler, deadline passed) is found without spending gas or a
nonce, and reported by its custom error name. A transaction that reverts after all (the race
was lost inside the same block) is replayed as a call on the block that mined it to name the
error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from eth_typing import ChecksumAddress, HexAddress, HexStr
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from protocol import GaslessOrder, ResolvedOrder, abi, decode_log
from protocol.evidence import Escrow

from ._config import ChainSpec, SolverKey

__all__ = ["EvmChain", "TxGateway", "TxResult"]

log = logging.getLogger("orbital.solver.chain")

ERC20_ABI = [
    {"type": "function", "name": "balanceOf", "stateMutability": "view",
     "inputs": [{"name": "owner", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]},
    {"type": "function", "name": "allowance", "stateMutability": "view",
     "inputs": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"}],
     "outputs": [{"name": "", "type": "uint256"}]},
]
GAS_HEADROOM = 1.25


def _error_names() -> dict[str, str]:
    """0x selector -> custom error name, for every error the settler or a token can raise."""
    out: dict[str, str] = {}
    for contract in ("OrbitalSettler", "TestToken"):
        for entry in abi(contract):
            if entry["type"] == "error":
                sig = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
                out["0x" + keccak(text=sig)[:4].hex()] = entry["name"]
    return out


_ERRORS = _error_names()


@dataclass(frozen=True)
class TxResult:
    """A transaction's outcome: ``ok`` and its hash, or the revert reason (a custom error name
    when the settler raised one). ``tx_hash`` is empty when it was refused before sending."""

    ok: bool
    tx_hash: str = ""
    error: str = ""
    receipt: Any = None


class TxGateway(Protocol):
    """Sends the solver's transactions for it (the in-house solver: the node's transaction
    sender, one nonce stream per (chain, address)). ``send`` signs, records and broadcasts
    one transaction with ``gas`` as its limit and returns its hash; it raises when the
    transaction was refused (nothing of it is pending then). Called from the award threads:
    it must be thread-safe."""

    def send(self, chain_id: int, to: str, data: str, gas: int, label: str) -> str: ...


class EvmChain:
    """Thread-safe: balance reads run anywhere; sends serialise only nonce allocation."""

    def __init__(self, spec: ChainSpec, key: SolverKey, *, rpc_timeout: float = 10.0,
                 receipt_timeout: float = 30.0,
                 before_send: Callable[[], None] | None = None,
                 gateway: TxGateway | None = None) -> None:
        self.spec = spec
        self._key = key
        # Inside a node: who signs and sends instead of the local nonce counter below.
        self.gateway = gateway
        # Called right before each transaction goes out; raising stops it (the in-house
        # solver proves there that its node still holds its lease).
        self.before_send = before_send
        self.receipt_timeout = receipt_timeout
        self.w3 = Web3(Web3.HTTPProvider(spec.rpc_url, request_kwargs={"timeout": rpc_timeout}))
        # a checksum address (the config makes it one; web3 refuses any other form here)
        settler = ChecksumAddress(HexAddress(HexStr(spec.settler)))
        self.settler = self.w3.eth.contract(address=settler, abi=abi("OrbitalSettler"))
        self._lock = threading.Lock()
        self._nonce: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def chain_id(self) -> int:
        return self.spec.chain_id

    @property
    def address(self) -> ChecksumAddress:
        return self._key.address

    def __repr__(self) -> str:
        return f"EvmChain({self.name}, {self.chain_id}, {self.spec.rpc_url})"

    # ---- reads ---------------------------------------------------------------------------
    def _erc20(self, token: str):
        return self.w3.eth.contract(address=to_checksum_address(token), abi=ERC20_ABI)

    def balance_of(self, token: str, owner: str | None = None) -> int:
        return self._erc20(token).functions.balanceOf(owner or self.address).call()

    def allowance(self, token: str, spender: str | None = None) -> int:
        return self._erc20(token).functions.allowance(self.address, spender or self.spec.settler).call()

    def spendable(self, token: str) -> int:
        """What a fill from this account can move: min(balance, allowance to the settler)."""
        return min(self.balance_of(token), self.allowance(token))

    def escrow(self, order_id: bytes) -> Escrow:
        """``escrows(orderId)`` as the evidence rule's :class:`~protocol.evidence.Escrow` (the
        one escrow type: what the solver judges its award against before it fills)."""
        user, deadline, status, token, filler, amount, key = self.settler.functions.escrows(order_id).call()
        return Escrow(int(status), to_checksum_address(user), int(deadline), to_checksum_address(token),
                      int(amount), to_checksum_address(filler), bytes(key))

    def filled_by(self, origin_data: bytes) -> str | None:
        filler = self.settler.functions.filledBy(origin_data).call()
        return None if int(filler, 16) == 0 else to_checksum_address(filler)

    def resolve_for(self, order: GaslessOrder, filler_data: bytes = b"") -> ResolvedOrder:
        return ResolvedOrder.from_abi(self.settler.functions.resolveFor(order.to_abi(), filler_data).call())

    # ---- writes --------------------------------------------------------------------------
    def open_for(self, order: GaslessOrder, signature: bytes, filler_data: bytes) -> tuple[TxResult, ResolvedOrder | None]:
        """``openFor`` on this (origin) chain; with the ResolvedOrder of its Open event.
        ``signature`` is the user's; an order of the Permit2 form is opened with it behind
        the Permit2 tag (the settler then pulls the input through Permit2)."""
        result = self.transact(self.settler.functions.openFor(order.to_abi(), order.open_signature(signature),
                                                              filler_data), "openFor")
        if not result.ok:
            return result, None
        for entry in result.receipt["logs"]:
            decoded = decode_log(entry)
            if decoded and decoded[0] == "Open" and decoded[1]["orderId"] == order.order_id:
                return result, ResolvedOrder.from_abi(decoded[1]["resolvedOrder"])
        return TxResult(False, result.tx_hash, "no Open event in the receipt", result.receipt), None

    def fill(self, order_id: bytes, origin_data: bytes, filler_data: bytes) -> TxResult:
        return self.transact(self.settler.functions.fill(order_id, origin_data, filler_data), "fill")

    def transact(self, fn, label: str) -> TxResult:
        """Estimate, sign with the solver key, send with EIP-1559 fees, wait for the receipt."""
        sender = {"from": self.address}
        if self.gateway is not None:
            return self._transact_through(self.gateway, fn, label)
        with self._lock:
            try:
                gas = fn.estimate_gas(sender)
            except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
                return TxResult(False, error=revert_reason(exc))
            tip, max_fee = self._fees()
            for attempt in (1, 2):
                nonce = self._next_nonce()
                tx = fn.build_transaction({**sender, "nonce": nonce, "gas": int(gas * GAS_HEADROOM),
                                           "maxPriorityFeePerGas": tip, "maxFeePerGas": max_fee,
                                           "chainId": self.chain_id})
                signed = self._key.account.sign_transaction(tx)
                if self.before_send is not None:
                    self.before_send()
                try:
                    tx_hash = HexStr("0x" + bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction)).hex())
                    break
                except Exception as exc:
                    self._nonce = None   # reseed: the key was used elsewhere, or the node lost ours
                    if attempt == 2 or "nonce" not in str(exc).lower():
                        raise
                    log.info("%s on %s: %s; nonce reseeded", label, self.name, exc)
            self._nonce = nonce + 1
        log.info("%s sent on %s: %s (nonce %d)", label, self.name, tx_hash, nonce)
        return self._outcome(fn, tx_hash)

    def _transact_through(self, gateway: TxGateway, fn, label: str) -> TxResult:
        """As :meth:`transact`, the nonce, fees, signature and broadcast being the
        gateway's: estimated here first (a revert is named without spending a nonce)."""
        try:
            gas = fn.estimate_gas({"from": self.address})
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            return TxResult(False, error=revert_reason(exc))
        data = self.settler.encode_abi(fn.abi_element_identifier, args=fn.args)
        if self.before_send is not None:
            self.before_send()
        tx_hash = HexStr(gateway.send(self.chain_id, self.settler.address, data,
                                      int(gas * GAS_HEADROOM), label))
        log.info("%s sent on %s: %s", label, self.name, tx_hash)
        return self._outcome(fn, tx_hash)

    def _outcome(self, fn, tx_hash: HexStr) -> TxResult:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout)
        if receipt["status"] == 1:
            return TxResult(True, tx_hash, receipt=receipt)
        return TxResult(False, tx_hash, self._replay_reason(fn, receipt["blockNumber"]), receipt)

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        return self._nonce

    def _fees(self) -> tuple[int, int]:
        """(maxPriorityFeePerGas, maxFeePerGas): a tip from the node, room for two base-fee rises."""
        base = self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception:  # nodes without eth_maxPriorityFeePerGas
            tip = 10**9
        return tip, 2 * int(base) + tip

    def _replay_reason(self, fn, block: int) -> str:
        try:
            fn.call({"from": self.address}, block_identifier=block)
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            return revert_reason(exc)
        except Exception as exc:  # pruned state etc.: the revert stands, the reason is unknown
            return f"reverted ({type(exc).__name__})"
        return "reverted"


def revert_reason(exc: Exception) -> str:
    """The custom error name (``OrderAlreadyFilled``) or the revert message of ``exc``."""
    data = getattr(exc, "data", None)
    if isinstance(data, (bytes, bytearray)):
        data = "0x" + HexBytes(data).hex()
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return _ERRORS.get(data[:10].lower(), f"custom error {data[:10]}")
    message = getattr(exc, "message", None) or str(exc)
    return message.replace("execution reverted: ", "").strip() or "reverted"
