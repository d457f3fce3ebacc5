"""ERC-1271: how a smart-contract wallet signs, as the node asks it and reads its answer.

A wallet (an account with code) cannot make an ECDSA signature of its own address, so it
answers for itself: ``isValidSignature(bytes32 hash, bytes signature)`` returns
:data:`ERC1271_MAGIC` when the signature over the EIP-712 digest is valid for it. The
settler (``contracts/src/lib/SignatureChecker.sol``) and the intent service ask exactly the
same question, in the same order (strict ECDSA recovery first, then the wallet), so an
order the node accepts is one the settler opens. These are the pure parts: the calldata,
the reading of the answer, and a readable account of a revert, for the refusal's reason.
"""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError

__all__ = ["ERC1271_MAGIC", "IS_VALID_SIGNATURE", "is_valid_signature_call", "wallet_answer",
           "describe_revert"]

# isValidSignature(bytes32,bytes)'s selector, which is also the answer for "valid".
IS_VALID_SIGNATURE = bytes.fromhex("1626ba7e")
ERC1271_MAGIC = IS_VALID_SIGNATURE
_ERROR_STRING = bytes.fromhex("08c379a0")   # Error(string)


def is_valid_signature_call(digest: bytes, signature: bytes) -> bytes:
    """The calldata of ``isValidSignature(digest, signature)``."""
    if len(digest) != 32:
        raise ValueError(f"digest must be 32 bytes, got {len(digest)}")
    return IS_VALID_SIGNATURE + abi_encode(["bytes32", "bytes"], [digest, signature])


def wallet_answer(returned: bytes) -> bytes:
    """The 4 bytes a wallet answered (the first four of the returned word), as the settler
    reads them: a reply shorter than one word answers ``0x00000000`` (nothing)."""
    return returned[:4] if len(returned) >= 32 else b"\x00" * 4


def describe_revert(data: bytes) -> str:
    """A revert as a user can read it: the message of ``Error(string)``, else the selector
    and length of a custom error, else "no reason" for an empty revert (no such function)."""
    if not data:
        return "reverted without a reason (the account may not implement isValidSignature)"
    if data[:4] == _ERROR_STRING:
        try:
            (message,) = abi_decode(["string"], data[4:])
        except DecodingError:
            pass
        else:
            return f"reverted: {message[:200]}"
    return f"reverted with 0x{data[:4].hex()} ({len(data)} bytes: 0x{data[:68].hex()})"
