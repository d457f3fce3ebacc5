"""Asking a smart-contract wallet (ERC-1271) whether a signature is its own, on chain.

The one place the node puts the question: the intent service at submission and
cancellation (``actors.book``), and admission before each auction round (a wallet's answer
can change after submission: an owner rotated, a module revoked). The settler asks the
same question at ``openFor`` (``contracts/src/lib/SignatureChecker.sol``): ``user`` has
code, and ``isValidSignature(digest, signature)`` returns ``0x1626ba7e``.

Two reads: :func:`has_code` (``eth_getCode``) and :func:`ask_wallet` (``eth_call`` of
``isValidSignature``, gas capped at :data:`WALLET_CALL_GAS`). Transport failures are the
caller's to word (:class:`RpcUnavailable`, or :class:`RpcError` for an error that is not
the call's own revert); what the wallet said is a :class:`WalletAnswer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from protocol import ERC1271_MAGIC, describe_revert, is_valid_signature_call, wallet_answer

from .rpc import RpcClient, RpcError

__all__ = ["WALLET_CALL_GAS", "WalletAnswer", "ask_wallet", "has_code"]

# The gas an isValidSignature call may use: a wallet that needs more is refused (its call
# reverts out of gas). Bounds what one order can make the node's RPC endpoint compute.
WALLET_CALL_GAS = 1_000_000

Outcome = Literal["valid", "refused", "reverted"]
VALID: Final = "valid"
REFUSED: Final = "refused"
REVERTED: Final = "reverted"


@dataclass(frozen=True, slots=True)
class WalletAnswer:
    """What a wallet said about one signature over one digest."""

    wallet: str
    outcome: Outcome
    answer: bytes = b""    # the 4 bytes answered (valid, refused)
    revert: bytes = b""    # the revert data (reverted; may be empty)

    @property
    def valid(self) -> bool:
        return self.outcome == VALID

    def describe(self) -> str:
        """The wallet's answer, for a refusal: ``isValidSignature answered 0xffffffff, not
        0x1626ba7e`` or ``isValidSignature reverted: <reason>``."""
        if self.outcome == REVERTED:
            return f"isValidSignature {describe_revert(self.revert)}"
        return (f"isValidSignature answered 0x{self.answer.hex()}"
                + ("" if self.valid else f", not 0x{ERC1271_MAGIC.hex()}"))


def has_code(rpc: RpcClient, address: str, block: str = "latest") -> bool:
    """Whether ``address`` is a contract at ``block``. Raises RpcUnavailable/RpcError."""
    code = rpc.call("eth_getCode", [address, block])
    return isinstance(code, str) and code not in ("0x", "0x0", "")


def ask_wallet(rpc: RpcClient, wallet: str, digest: bytes, signature: bytes,
               block: str = "latest") -> WalletAnswer:
    """``wallet.isValidSignature(digest, signature)`` at ``block``. Raises
    :class:`RpcUnavailable` when no endpoint answers, :class:`RpcError` for a node error that
    is not the call's own failure (a revert or out of gas is a ``reverted`` answer)."""
    call = {"to": wallet, "data": "0x" + is_valid_signature_call(digest, signature).hex(),
            "gas": hex(WALLET_CALL_GAS)}
    try:
        raw = rpc.call("eth_call", [call, block])
    except RpcError as exc:
        if not _is_revert(exc):
            raise
        return WalletAnswer(wallet, REVERTED, revert=_revert_data(exc))
    returned = bytes.fromhex(raw[2:]) if isinstance(raw, str) and raw.startswith("0x") else b""
    answer = wallet_answer(returned)
    return WalletAnswer(wallet, VALID if answer == ERC1271_MAGIC else REFUSED, answer=answer)


def _is_revert(exc: RpcError) -> bool:
    """An execution failure of the call itself (a revert, out of gas), as opposed to a node
    that could not run it."""
    text = (exc.message or "").lower()
    return exc.code == 3 or "revert" in text or "out of gas" in text or "execution" in text


def _revert_data(exc: RpcError) -> bytes:
    data = exc.data
    if isinstance(data, dict):   # some nodes nest it: {"data": "0x.."}
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return b""
