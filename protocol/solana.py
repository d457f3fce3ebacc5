"""Solana primitives every party derives the same way: program ids and the associated token
account of a wallet for a mint (where an SPL fill to a recipient must land).

Bottom layer (``protocol``): the node, the chain library and the reference solver all import
this, so the address a fill is checked against is computed in one place.
"""

from __future__ import annotations

from solders.pubkey import Pubkey

__all__ = ["TOKEN_PROGRAM", "ASSOCIATED_TOKEN_PROGRAM", "MEMO_PROGRAM", "SYSTEM_PROGRAM",
           "associated_token_address"]

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
MEMO_PROGRAM = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"      # SPL Memo v2
SYSTEM_PROGRAM = "11111111111111111111111111111111"

_TOKEN = Pubkey.from_string(TOKEN_PROGRAM)
_ATA = Pubkey.from_string(ASSOCIATED_TOKEN_PROGRAM)


def associated_token_address(owner: str, mint: str) -> str:
    """The associated token account of wallet ``owner`` for ``mint`` (SPL Token program),
    base58: the program-derived address of (owner, token program, mint)."""
    key, _ = Pubkey.find_program_address(
        [bytes(Pubkey.from_string(owner)), bytes(_TOKEN), bytes(Pubkey.from_string(mint))], _ATA)
    return str(key)
