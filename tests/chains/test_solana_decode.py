"""``chains.solana.transfers_of`` on ``getTransaction`` replies shaped as a node sends them:
what a real cluster has and solana-local does not (a transfer made by another program, in
``innerInstructions``), a failed transaction, a mint that is not configured."""

from __future__ import annotations

from chains.solana import TOKEN_PROGRAM, transfers_of
from devnet.solana_codec import b58encode

MINT, OTHER = "444YucPLqi6FUoEiUw7Dveb3RDfZzPAazdJSATSAkfcT", "So11111111111111111111111111111111111111112"
PAYER, SRC, DST, PROG = ("7nHFe8fosMAtVBkhEWxsizNeon5rjhaYXrfKXj6uXsBK",
                         "G9qnjjcnpQjKo4gJ2R4S4TuhRpwh1vuRnMLirNtYqgHG",
                         "99Coi1Et38tydRqheb6A8Q1Eyc4BWwuk27knUVbbxByp",
                         "FRqPmNrWok3mCoPfkGePG7PDnmBNJpj3vPk9NCvwMK4d")
MEMO = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
ORDER = "0x" + "12" * 32


def _reply(mint: str = MINT, err=None) -> dict:
    keys = [PAYER, SRC, DST, PROG, TOKEN_PROGRAM, MEMO]
    transfer = {"programIdIndex": 4, "accounts": [1, 2, 0],
                "data": b58encode(bytes([3]) + (2**64 - 1).to_bytes(8, "little"))}
    return {"slot": 77, "blockTime": 5, "transaction": {"signatures": ["sig"], "message": {
        "accountKeys": keys, "instructions": [
            {"programIdIndex": 3, "accounts": [1, 2, 0], "data": "1"},
            {"programIdIndex": 5, "accounts": [], "data": b58encode(ORDER.encode())}]}},
        "meta": {"err": err, "innerInstructions": [{"index": 0, "instructions": [transfer]}],
                 "preTokenBalances": [],
                 "postTokenBalances": [{"accountIndex": 1, "mint": mint, "owner": PAYER},
                                       {"accountIndex": 2, "mint": mint, "owner": PROG}]}}


def test_an_inner_transfer_is_indexed_with_the_memo_and_the_u64_amount():
    [t] = transfers_of("sig", _reply(), {MINT})
    assert (t.ix, t.slot, t.mint, t.source, t.destination, t.source_owner,
            t.destination_owner, t.amount, t.memo, t.order_id, t.block_time) == \
        (1000, 77, MINT, SRC, DST, PAYER, PROG, 2**64 - 1, ORDER, ORDER, 5)


def test_a_failed_transaction_or_another_mint_is_not_indexed():
    assert transfers_of("sig", _reply(err={"InstructionError": [0, "Custom"]}), {MINT}) == []
    assert transfers_of("sig", _reply(mint=OTHER), {MINT}) == []
