"""Solana primitives every party derives and builds the same way: program ids, the
associated token account of a wallet for a mint (where an SPL fill to a recipient must
land), the few instructions Orbital sends (SOL transfer, SPL ``TransferChecked``, an
idempotent associated-token-account creation, a Memo v2) and a signed legacy transaction.

Bottom layer (``protocol``): the node (funding accounts), the chain library and the
reference solver (fills) all import this, so what is sent and the address a fill is
checked against are computed in one place. Bad input raises ``ValueError`` naming the
argument, before anything is signed.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import NamedTuple

from solders.hash import Hash, ParseHashError
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

__all__ = ["TOKEN_PROGRAM", "ASSOCIATED_TOKEN_PROGRAM", "MEMO_PROGRAM", "SYSTEM_PROGRAM",
           "MAX_TRANSACTION_SIZE", "SignedTransaction", "associated_token_address",
           "sol_transfer", "spl_transfer_checked", "create_associated_token_account_idempotent",
           "memo", "sign_transaction"]

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
MEMO_PROGRAM = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"      # SPL Memo v2
SYSTEM_PROGRAM = "11111111111111111111111111111111"
MAX_TRANSACTION_SIZE = 1232     # bytes on the wire (IPv6 MTU minus headers): a cluster limit

_TOKEN = Pubkey.from_string(TOKEN_PROGRAM)
_ATA = Pubkey.from_string(ASSOCIATED_TOKEN_PROGRAM)
_MEMO = Pubkey.from_string(MEMO_PROGRAM)
_SYSTEM = Pubkey.from_string(SYSTEM_PROGRAM)
_U64 = 2**64 - 1
_TRANSFER_CHECKED = 12          # SPL Token instruction tag
_CREATE_IDEMPOTENT = 1          # Associated Token Account instruction tag


class SignedTransaction(NamedTuple):
    """A signed legacy transaction: its id (the fee payer's signature, base58), the wire
    bytes in base64 (what ``sendTransaction`` takes with ``encoding: base64``), and the
    blockhash it was signed with."""

    signature: str
    wire: str
    blockhash: str


def _key(value: str | Pubkey, name: str) -> Pubkey:
    if isinstance(value, Pubkey):
        return value
    try:
        return Pubkey.from_string(value)
    except (ValueError, TypeError):
        raise ValueError(f"{name}: expected a base58 public key (32 bytes), "
                         f"got {value!r}") from None


def _amount(value: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _U64:
        raise ValueError(f"{name}: expected an integer in 1..2^64-1, got {value!r}")
    return value


def associated_token_address(owner: str, mint: str) -> str:
    """The associated token account of wallet ``owner`` for ``mint`` (SPL Token program),
    base58: the program-derived address of (owner, token program, mint)."""
    key, _ = Pubkey.find_program_address(
        [bytes(_key(owner, "owner")), bytes(_TOKEN), bytes(_key(mint, "mint"))], _ATA)
    return str(key)


def sol_transfer(source: str, destination: str, lamports: int) -> Instruction:
    """System program transfer of ``lamports`` (signed by ``source``)."""
    return transfer(TransferParams(from_pubkey=_key(source, "source"),
                                   to_pubkey=_key(destination, "destination"),
                                   lamports=_amount(lamports, "lamports")))


def spl_transfer_checked(owner: str, mint: str, recipient: str, amount: int,
                         decimals: int) -> Instruction:
    """SPL ``TransferChecked`` of ``amount`` base units of ``mint`` from ``owner``'s
    associated token account to ``recipient``'s (wallets, not token accounts: both token
    accounts are derived here). Checked, so the program refuses a wrong mint or decimals."""
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 255:
        raise ValueError(f"decimals: expected an integer in 0..255, got {decimals!r}")
    data = bytes([_TRANSFER_CHECKED]) + _amount(amount, "amount").to_bytes(8, "little") \
        + bytes([decimals])
    mint_key = _key(mint, "mint")
    source = Pubkey.from_string(associated_token_address(owner, str(mint_key)))
    dest = Pubkey.from_string(associated_token_address(recipient, str(mint_key)))
    return Instruction(_TOKEN, data, [
        AccountMeta(source, is_signer=False, is_writable=True),
        AccountMeta(mint_key, is_signer=False, is_writable=False),
        AccountMeta(dest, is_signer=False, is_writable=True),
        AccountMeta(_key(owner, "owner"), is_signer=True, is_writable=False)])


def create_associated_token_account_idempotent(payer: str, owner: str,
                                               mint: str) -> Instruction:
    """Create ``owner``'s associated token account for ``mint`` (rent paid by ``payer``),
    or do nothing if it exists: safe to put before every transfer to it."""
    owner_key, mint_key = _key(owner, "owner"), _key(mint, "mint")
    ata = Pubkey.from_string(associated_token_address(str(owner_key), str(mint_key)))
    return Instruction(_ATA, bytes([_CREATE_IDEMPOTENT]), [
        AccountMeta(_key(payer, "payer"), is_signer=True, is_writable=True),
        AccountMeta(ata, is_signer=False, is_writable=True),
        AccountMeta(owner_key, is_signer=False, is_writable=False),
        AccountMeta(mint_key, is_signer=False, is_writable=False),
        AccountMeta(_SYSTEM, is_signer=False, is_writable=False),
        AccountMeta(_TOKEN, is_signer=False, is_writable=False)])


def memo(text: str, signers: Sequence[str] = ()) -> Instruction:
    """SPL Memo v2 carrying ``text`` (UTF-8; an order id on a fill), optionally signed by
    ``signers`` (the program then checks they signed)."""
    if not isinstance(text, str) or not text:
        raise ValueError("memo: expected a non-empty text")
    return Instruction(_MEMO, text.encode("utf-8"),
                       [AccountMeta(_key(s, "memo signer"), is_signer=True, is_writable=False)
                        for s in signers])


def sign_transaction(instructions: Sequence[Instruction], payer: Keypair,
                     blockhash: str) -> SignedTransaction:
    """A legacy transaction of ``instructions``, fee payer and only signer ``payer``,
    valid while ``blockhash`` is (about 150 blocks). The same inputs give the same bytes
    and signature (ed25519 is deterministic), so re-sending is idempotent."""
    if not instructions:
        raise ValueError("instructions: at least one is required")
    try:
        recent = Hash.from_string(blockhash)
    except (ValueError, TypeError, ParseHashError):
        raise ValueError(f"blockhash: expected a base58 hash (32 bytes), got {blockhash!r}") \
            from None
    message = Message.new_with_blockhash(list(instructions), payer.pubkey(), recent)
    signers = {m.pubkey for ix in instructions for m in ix.accounts if m.is_signer}
    if signers - {payer.pubkey()}:
        raise ValueError("instructions: need signatures other than the payer's: "
                         + ", ".join(sorted(str(k) for k in signers - {payer.pubkey()})))
    tx = Transaction([payer], message, recent)
    wire = bytes(tx)
    if len(wire) > MAX_TRANSACTION_SIZE:
        raise ValueError(f"instructions: the transaction is {len(wire)} bytes, more than "
                         f"{MAX_TRANSACTION_SIZE}")
    return SignedTransaction(str(tx.signatures[0]), base64.b64encode(wire).decode(),
                             str(recent))
