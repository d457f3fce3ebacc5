"""The reference for protocol.signatures: eth-account walking EIP-712 typed data.

protocol hashes and recovers the Orbital types by hand (one fast implementation each); this
is the independent implementation the tests hold it to: any typed data, eth-account's own
encoder and recovery, and none of the settler's signature rules (the tests state those).
A plain module (not a conftest), shared by tests/protocol and tests/contracts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak

__all__ = ["order_id", "recover", "signable", "typed_data_digest"]


def signable(typed: Mapping[str, Any] | str) -> SignableMessage:
    """eth-account's EIP-712 encoding of ``typed`` (a dict or its JSON text)."""
    return encode_typed_data(full_message=json.loads(typed) if isinstance(typed, str) else dict(typed))


def typed_data_digest(typed: Mapping[str, Any] | str) -> bytes:
    """keccak256(0x19 || version || domainSeparator || hashStruct(message)), by eth-account."""
    message = signable(typed)
    return keccak(b"\x19" + bytes(message.version) + message.header + message.body)


def recover(typed: Mapping[str, Any] | str, signature: bytes) -> str:
    """The address eth-account recovers for ``signature`` over ``typed``."""
    return Account.recover_message(signable(typed), signature=signature)


def order_id(origin_chain_id: int, origin_settler: str, user: str, nonce: int) -> bytes:
    """OrbitalTypes.orderId by eth_abi: keccak256(abi.encode(chainId, settler, user, nonce))."""
    return keccak(abi_encode(["uint256", "address", "address", "uint256"],
                             [origin_chain_id, origin_settler, user, nonce]))
