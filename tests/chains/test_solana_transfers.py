"""The Solana watcher indexes SPL transfers into token accounts of the configured mints
(``solana_transfer``) against a real solana-local: each transfer once with its exact
fields (memo and order id), a plain ``Transfer`` (no mint in the instruction) and one
without memo too, nothing else; paging past one page of signatures; a restart in the
middle of a backlog indexes every transfer exactly once. SQLite and PostgreSQL."""

from __future__ import annotations

from solders.instruction import Instruction
from solders.system_program import TransferParams as SolTransferParams
from solders.system_program import transfer as sol_transfer
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import transfer, transfer_checked
from spl.token.models import TransferCheckedParams, TransferParams

from chains.solana import SolanaCursor, SolanaTransfer
from devnet.solana_keys import SOLANA_ACCOUNTS, mint_keypair

from .conftest import wait_until
from . import test_solana_watcher as _watcher
from .test_solana_watcher import MINT, _yaml

solana_local = _watcher.solana_local          # solana-local on a fixed port (a fixture)

MEMO = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
A, B = SOLANA_ACCOUNTS[3], SOLANA_ACCOUNTS[4]
ORDER = "0x" + "ab" * 32


def _send(local, amount: int, memo: str | None = None, *, checked: bool = True) -> str:
    if checked:
        ix = transfer_checked(TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID, source=A.usdc_account, mint=mint_keypair().pubkey(),
            dest=B.usdc_account, owner=A.pubkey, amount=amount, decimals=6))
    else:
        ix = transfer(TransferParams(program_id=TOKEN_PROGRAM_ID, source=A.usdc_account,
                                     dest=B.usdc_account, owner=A.pubkey, amount=amount))
    ixs = [ix] + ([Instruction(MEMO, memo.encode(), [])] if memo is not None else [])
    return local.chain.send_instructions(ixs, A.keypair, [])


def _rows(node) -> list[SolanaTransfer]:
    with node.store.connection():
        return list(SolanaTransfer.select().order_by(SolanaTransfer.slot, SolanaTransfer.ix))


def _cursor(node) -> SolanaCursor | None:
    with node.store.connection():
        return SolanaCursor.get_or_none(SolanaCursor.chain == "sol")


def test_transfers_indexed_once_with_their_fields(database_url, start_node, solana_local):
    start = solana_local.slot                                   # the next tx lands in it
    tagged = _send(solana_local, 1_234_567, ORDER.upper().replace("0X", "0x"))
    plain = _send(solana_local, 42, checked=False)              # no mint, no memo
    noted = _send(solana_local, 7, "thanks")                    # a memo, not an order id
    solana_local.chain.send_instructions(                       # SOL, not SPL: not indexed
        [sol_transfer(SolTransferParams(from_pubkey=A.pubkey, to_pubkey=B.pubkey,
                                        lamports=5))], A.keypair, [])
    node, _ = start_node(database_url, _yaml([solana_local.url], start_slot=start), book=False)
    wait_until(lambda: len(_rows(node)) >= 3, what="three transfers indexed")
    last = _send(solana_local, 9, ORDER)                        # after the start
    wait_until(lambda: len(_rows(node)) >= 4, what="the fourth transfer indexed")
    rows = _rows(node)
    assert [r.signature for r in rows] == [tagged, plain, noted, last]
    first = rows[0]
    assert (first.chain, first.ix, first.mint, first.source, first.destination,
            first.source_owner, first.destination_owner, int(first.amount), first.memo,
            first.order_id) == ("sol", 0, MINT, str(A.usdc_account), str(B.usdc_account),
                                str(A.pubkey), str(B.pubkey), 1_234_567,
                                ORDER.upper().replace("0X", "0x"), ORDER)
    assert first.slot >= start
    assert (int(rows[1].amount), rows[1].memo, rows[1].order_id, rows[1].mint) == (42, "", "", MINT)
    assert (int(rows[2].amount), rows[2].memo, rows[2].order_id) == (7, "thanks", "")
    assert (int(rows[3].amount), rows[3].order_id) == (9, ORDER)
    wait_until(lambda: _cursor(node).signature == last, what="the cursor at the last signature")
    assert len(_rows(node)) == 4                                # once each


def test_restart_mid_backlog_indexes_every_transfer_once(database_url, start_node, nodes,
                                                         solana_local):
    """``page_size: 2`` and 5 transfers: the first node indexes the 2 oldest in its first
    tick and then waits ten minutes; stopped there, a new node goes on from the cursor's
    signature, paging back over more than one page of signatures."""
    start = solana_local.slot                                   # the next tx lands in it
    sigs = [_send(solana_local, 100 + i, ORDER) for i in range(5)]
    node, _ = start_node(database_url, _yaml([solana_local.url], start_slot=start, page_size=2,
                                             poll_interval=600), book=False)
    wait_until(lambda: len(_rows(node)) == 2, what="the first page indexed")
    cursor = _cursor(node)
    assert cursor.signature == sigs[1] and [r.signature for r in _rows(node)] == sigs[:2]
    nodes.stop(node)                                            # mid-stream
    node, _ = start_node(database_url, _yaml([solana_local.url], start_slot=start, page_size=2),
                         book=False, node_name="node-2")
    sigs.append(_send(solana_local, 200, ORDER))
    wait_until(lambda: len(_rows(node)) >= 6, what="the rest indexed")
    wait_until(lambda: _cursor(node).signature == sigs[-1], what="the cursor at the last one")
    rows = _rows(node)
    assert [r.signature for r in rows] == sigs                  # no gap, no duplicate
    assert [int(r.amount) for r in rows] == [100, 101, 102, 103, 104, 200]
