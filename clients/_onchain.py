"""The user's own transactions on the origin chain: today, cancelling an order on chain.

An off-chain cancellation (``CancelIntent``) stops the node from auctioning an order, but a
copy of the signed order already handed to a solver can still be opened. Burning the order's
nonce on the origin settler (``invalidateNonce``) makes ``openFor`` revert for it forever;
the node's chain watcher sees ``NonceInvalidated`` and the book moves the intent to
CANCELLED with the transaction in its history (docs/erc7683.md, "On-chain cancellation").

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

from protocol import abi, order_id

from ._errors import ClientError
from ._keys import Signer
from ._types import Intent

__all__ = ["OnchainCancel", "invalidation_call", "cancel_onchain"]


@dataclass(frozen=True)
class OnchainCancel:
    """A mined invalidation: the transaction, its block, and what it burnt."""

    intent_id: str
    tx_hash: str
    block_number: int
    chain_id: int
    contract: str
    nonce: int


def invalidation_call(w3: Web3, intent: Intent) -> tuple[str, Any]:
    """The contract and the bound call that make ``intent``'s signature unusable on chain.

    An Orbital gasless order: the origin settler's ``invalidateNonce(nonce)``. This is the
    one place a signing form chooses its invalidation: an order signed as a Permit2
    ``PermitWitnessTransferFrom`` is to be burnt with Permit2's
    ``invalidateUnorderedNonces(wordPos, mask)`` (its nonce bitmap), not here yet."""
    settler = w3.eth.contract(address=Web3.to_checksum_address(intent.origin_settler),
                              abi=abi("OrbitalSettler"))
    return settler.address, settler.functions.invalidateNonce(intent.nonce)


def cancel_onchain(rpc_url: str, intent: Intent, signer: Signer, *,
                   timeout: float = 60.0) -> OnchainCancel:
    """Send the invalidation of ``intent``'s nonce from ``signer`` (the intent's user) to the
    origin chain at ``rpc_url`` and wait for it to be mined. Refused locally (ClientError,
    nothing sent) when the key is not the user's, the intent was opened on chain (no signed
    nonce), its id is not the one its chain, settler, user and nonce make (``intent`` comes
    from a node; the user named the id), the endpoint is another chain, or the nonce is used already: an order opened
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
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": min(timeout, 30.0)}))
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001 - transport errors of any kind: one message
        raise ClientError(f"the RPC endpoint did not answer ({type(exc).__name__})") from None
    if chain_id != intent.origin_chain_id:
        raise ClientError(f"the RPC endpoint is chain {chain_id}, but intent {intent.id} is on "
                          f"chain {intent.origin_chain_id} ({intent.origin_chain})")
    contract, call = invalidation_call(w3, intent)
    settler = w3.eth.contract(address=Web3.to_checksum_address(intent.origin_settler),
                              abi=abi("OrbitalSettler"))
    user = Web3.to_checksum_address(intent.user)
    try:
        if settler.functions.usedNonces(user, intent.nonce).call():
            raise ClientError(f"nonce {intent.nonce} of {user} is used on chain already: the "
                              f"order was opened (intent {intent.id} is "
                              f"{intent.status.name}; its escrow runs its course: settled, "
                              "or refunded after fillDeadline) or the nonce was invalidated "
                              "before; nothing sent")
        tx = call.build_transaction({"from": user, "chainId": chain_id,
                                     "nonce": w3.eth.get_transaction_count(user, "pending")})
        tx_hash = w3.eth.send_raw_transaction(signer.sign_transaction(tx))
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    except ClientError:
        raise
    except ContractLogicError as exc:   # the settler's refusal: its message is the reason
        raise ClientError(f"invalidateNonce would revert: {str(exc)[:200]}") from None
    except Exception as exc:  # noqa: BLE001 - transport errors can quote the URL: type only
        raise ClientError(f"invalidateNonce could not be sent ({type(exc).__name__}); is "
                          "the RPC endpoint up?") from None
    if receipt["status"] != 1:
        raise ClientError(f"invalidateNonce reverted in 0x{bytes(tx_hash).hex()}")
    return OnchainCancel(intent.id, "0x" + bytes(tx_hash).hex(), int(receipt["blockNumber"]),
                         chain_id, contract, intent.nonce)
