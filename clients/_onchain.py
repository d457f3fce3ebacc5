"""The user's own transactions on the origin chain: today, cancelling an order on chain.

An off-chain cancellation (``CancelIntent``) stops the node from auctioning an order, but a
copy of the signed order already handed to a solver can still be opened. Burning the order's
nonce on chain makes ``openFor`` revert for it forever; the node's chain watcher sees the
event and the book moves the intent to CANCELLED with the transaction in its history
(docs/erc7683.md, "On-chain cancellation"). Which nonce is burnt depends on how the order
was signed (:func:`invalidation_call`): the origin settler's ``invalidateNonce`` for the
Orbital form (event ``NonceInvalidated``), Permit2's ``invalidateUnorderedNonces`` for the
Permit2 form (event ``UnorderedNonceInvalidation``).

The transaction is signed here with the user's key (the same :class:`Signer` ``orbital
submit`` uses; the key never leaves it) and sent to an RPC endpoint the user names: the
client library talks to the node's public API only, and the node does not relay users'
transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import ContractLogicError

from protocol import PERMIT2_ADDRESS, abi, order_id

from ._errors import ClientError
from ._keys import Signer
from ._types import Intent

__all__ = ["OnchainCancel", "invalidation_call", "cancel_onchain"]

_PERMIT2_SOURCE = "permit2"
"""``Intent.source`` of an order signed in the Permit2 form (docs/erc7683.md 3b)."""


@dataclass(frozen=True)
class OnchainCancel:
    """A mined invalidation: the transaction, its block, and what it burnt: ``nonce`` by
    ``method`` of ``contract`` (for Permit2's, bit ``nonce & 0xff`` of ``word``: ``mask``)."""

    intent_id: str
    tx_hash: str
    block_number: int
    chain_id: int
    contract: str
    nonce: int
    method: str = "invalidateNonce"
    word: int | None = None
    mask: int | None = None


def invalidation_call(w3: Web3, intent: Intent) -> tuple[str, Any]:
    """The contract and the bound call that make ``intent``'s signature unusable on chain.

    This is the one place a signing form chooses its invalidation, by the intent's
    ``source`` as the node reports it (the order id does not commit to the form):

    - ``permit2`` (a ``PermitWitnessTransferFrom`` with the order as witness): Permit2's
      ``invalidateUnorderedNonces(nonce >> 8, 1 << (nonce & 0xff))`` at its canonical
      address, which sets the nonce's bit in the user's bitmap so Permit2 refuses the
      permit (``InvalidNonce``) and the open with it;
    - otherwise (an Orbital gasless order): the origin settler's ``invalidateNonce(nonce)``.
    """
    if intent.source == _PERMIT2_SOURCE:
        permit2 = w3.eth.contract(address=Web3.to_checksum_address(PERMIT2_ADDRESS),
                                   abi=abi("Permit2"))
        word, mask = intent.nonce >> 8, 1 << (intent.nonce & 0xFF)
        return permit2.address, permit2.functions.invalidateUnorderedNonces(word, mask)
    settler = w3.eth.contract(address=Web3.to_checksum_address(intent.origin_settler),
                              abi=abi("OrbitalSettler"))
    return settler.address, settler.functions.invalidateNonce(intent.nonce)


def _spent(w3: Web3, intent: Intent, user: str) -> str:
    """Why ``intent``'s nonce is spent on chain already (nothing to cancel), or "": the
    settler's ``usedNonces`` (an open, or an invalidation, in either form) and, for the
    Permit2 form, Permit2's ``nonceBitmap`` (an invalidation, or a permit of any app)."""
    settler = w3.eth.contract(address=Web3.to_checksum_address(intent.origin_settler),
                              abi=abi("OrbitalSettler"))
    if settler.functions.usedNonces(user, intent.nonce).call():
        return (f"nonce {intent.nonce} of {user} is used on chain already: the order was "
                f"opened (intent {intent.id} is {intent.status.name}; its escrow runs its "
                "course: settled, or refunded after fillDeadline) or the nonce was "
                "invalidated before; nothing sent")
    if intent.source == _PERMIT2_SOURCE:
        permit2 = w3.eth.contract(address=Web3.to_checksum_address(PERMIT2_ADDRESS),
                                   abi=abi("Permit2"))
        word, bit = intent.nonce >> 8, intent.nonce & 0xFF
        if (permit2.functions.nonceBitmap(user, word).call() >> bit) & 1:
            return (f"Permit2 nonce {intent.nonce} of {user} is used on chain already (bit "
                    f"{bit} of word {word} of Permit2's nonceBitmap): it was invalidated "
                    "before, or a permit of another app used it, so the order can no "
                    f"longer be opened (intent {intent.id} is {intent.status.name}); "
                    "nothing sent")
    return ""


def cancel_onchain(rpc_url: str, intent: Intent, signer: Signer, *,
                   timeout: float = 60.0) -> OnchainCancel:
    """Send the invalidation of ``intent``'s nonce (:func:`invalidation_call`: the settler's,
    or Permit2's for the Permit2 form) from ``signer`` (the intent's user) to the
    origin chain at ``rpc_url`` and wait for it to be mined. Refused locally (ClientError,
    nothing sent) when the key is not the user's, the intent was opened on chain (no signed
    nonce), its id is not the one its chain, settler, user and nonce make (``intent`` comes
    from a node; the user named the id), the endpoint is another chain, or the nonce is
    used already (the settler's ``usedNonces``; for the Permit2 form, Permit2's
    ``nonceBitmap`` too): an order opened
    already is past cancelling, its escrow runs its course (settled, or refunded after
    fillDeadline)."""
    if intent.source == "onchain":
        raise ClientError(f"intent {intent.id} was opened on chain: it has no signed order "
                          "to cancel")
    if signer.address.lower() != intent.user.lower():
        raise ClientError(f"the key is for {signer.address}, but intent {intent.id} belongs "
                          f"to {intent.user}")
    # The id commits to (chain, settler, user, nonce): what the node says of them is checked
    # against it, so no answer can direct the user's transaction to another contract or nonce.
    if "0x" + order_id(intent.origin_chain_id, intent.origin_settler, intent.user,
                       intent.nonce).hex() != intent.id.lower():
        raise ClientError(f"intent {intent.id}: its chain, settler, user and nonce do not "
                          "make its id; nothing sent")
    # The signing form is not in the id: the node's ``source`` picks the invalidation. A
    # wrong one cannot reach another contract than the settler or Permit2, nor another
    # nonce: the settler's invalidation cancels either form, and a Permit2 one for an
    # Orbital-form order leaves that order openable (the intent stays as it was, which
    # ``--watch`` shows).
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": min(timeout, 30.0)}))
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001 - transport errors of any kind: one message
        raise ClientError(f"the RPC endpoint did not answer ({type(exc).__name__})") from None
    if chain_id != intent.origin_chain_id:
        raise ClientError(f"the RPC endpoint is chain {chain_id}, but intent {intent.id} is on "
                          f"chain {intent.origin_chain_id} ({intent.origin_chain})")
    contract, call = invalidation_call(w3, intent)
    method = call.fn_name
    user = Web3.to_checksum_address(intent.user)
    try:
        spent = _spent(w3, intent, user)
        if spent:
            raise ClientError(spent)
        tx = call.build_transaction({"from": user, "chainId": chain_id,
                                     "nonce": w3.eth.get_transaction_count(user, "pending")})
        tx_hash = w3.eth.send_raw_transaction(signer.sign_transaction(tx))
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    except ClientError:
        raise
    except ContractLogicError as exc:   # the contract's refusal: its message is the reason
        raise ClientError(f"{method} would revert: {str(exc)[:200]}") from None
    except Exception as exc:  # noqa: BLE001 - transport errors can quote the URL: type only
        raise ClientError(f"{method} could not be sent ({type(exc).__name__}); is "
                          "the RPC endpoint up?") from None
    if receipt["status"] != 1:
        raise ClientError(f"{method} reverted in 0x{bytes(tx_hash).hex()}")
    permit2 = intent.source == _PERMIT2_SOURCE
    return OnchainCancel(intent.id, "0x" + bytes(tx_hash).hex(), int(receipt["blockNumber"]),
                         chain_id, contract, intent.nonce, method,
                         intent.nonce >> 8 if permit2 else None,
                         1 << (intent.nonce & 0xFF) if permit2 else None)
