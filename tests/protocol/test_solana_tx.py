"""protocol.solana's instructions and signed transactions: the same bytes as the SPL
library's own builders, accepted and executed by a real solana-local chain (LiteSVM), and
bad input refused with the argument named."""

from __future__ import annotations

import base64

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import create_idempotent_associated_token_account, transfer_checked
from spl.token.models import TransferCheckedParams

from devnet.solana_keys import SOLANA_ACCOUNTS, mint_keypair
from devnet.solana_svm import SolanaChain
from protocol.solana import (MAX_TRANSACTION_SIZE, associated_token_address,
                             create_associated_token_account_idempotent, memo, sign_transaction,
                             sol_transfer, spl_transfer_checked)

MINT = str(mint_keypair().pubkey())
PAYER = SOLANA_ACCOUNTS[0]


@pytest.fixture(scope="module")
def chain() -> SolanaChain:
    return SolanaChain()


def _land(chain: SolanaChain, ixs, payer: Keypair = PAYER.keypair):
    blockhash, _ = chain.latest_blockhash()
    signed = sign_transaction(ixs, payer, blockhash)
    tx = VersionedTransaction.from_bytes(base64.b64decode(signed.wire))
    assert chain.send(tx) == signed.signature == str(tx.signatures[0])
    assert chain.records[signed.signature].err is None
    return signed


def test_instructions_match_the_spl_builders():
    owner, recipient = PAYER.pubkey, SOLANA_ACCOUNTS[3].pubkey
    mint = Pubkey.from_string(MINT)
    assert create_associated_token_account_idempotent(str(owner), str(recipient), MINT) == \
        create_idempotent_associated_token_account(owner, recipient, mint)
    assert spl_transfer_checked(str(owner), MINT, str(recipient), 1234, 6) == transfer_checked(
        TransferCheckedParams(program_id=TOKEN_PROGRAM_ID,
                              source=Pubkey.from_string(associated_token_address(str(owner), MINT)),
                              mint=mint, dest=SOLANA_ACCOUNTS[3].usdc_account, owner=owner,
                              amount=1234, decimals=6))


def test_sol_and_spl_with_memo_land_on_a_real_chain(chain):
    fresh = str(Keypair().pubkey())             # no token account yet: created in the tx
    payer = str(PAYER.pubkey)
    before = chain.account(PAYER.usdc_account)
    signed = _land(chain, [sol_transfer(payer, fresh, 5_000_000),
                           create_associated_token_account_idempotent(payer, fresh, MINT),
                           spl_transfer_checked(payer, MINT, fresh, 777, 6),
                           memo("0x" + "ab" * 32)])
    assert chain.account(Pubkey.from_string(fresh)).lamports == 5_000_000
    ata = chain.account(Pubkey.from_string(associated_token_address(fresh, MINT)))
    assert int.from_bytes(bytes(ata.data)[64:72], "little") == 777
    assert int.from_bytes(bytes(chain.account(PAYER.usdc_account).data)[64:72], "little") == \
        int.from_bytes(bytes(before.data)[64:72], "little") - 777
    assert any("Memo" in line for line in chain.records[signed.signature].logs)
    # idempotent creation: the account exists now, the same instruction is a no-op
    _land(chain, [create_associated_token_account_idempotent(payer, fresh, MINT),
                  spl_transfer_checked(payer, MINT, fresh, 1, 6)])


def test_signing_is_deterministic_and_bound_to_the_blockhash(chain):
    blockhash, _ = chain.latest_blockhash()
    ixs = [sol_transfer(str(PAYER.pubkey), str(SOLANA_ACCOUNTS[4].pubkey), 1)]
    a, b = sign_transaction(ixs, PAYER.keypair, blockhash), sign_transaction(ixs, PAYER.keypair,
                                                                             blockhash)
    assert a == b and a.blockhash == blockhash
    chain.new_block()
    c = sign_transaction(ixs, PAYER.keypair, chain.latest_blockhash()[0])
    assert c.signature != a.signature and c.blockhash != blockhash


@pytest.mark.parametrize("call, field", [
    (lambda: sol_transfer("0x" + "00" * 20, str(PAYER.pubkey), 1), "source"),
    (lambda: sol_transfer(str(PAYER.pubkey), "nope", 1), "destination"),
    (lambda: sol_transfer(str(PAYER.pubkey), str(PAYER.pubkey), 0), "lamports"),
    (lambda: sol_transfer(str(PAYER.pubkey), str(PAYER.pubkey), 2**64), "lamports"),
    (lambda: spl_transfer_checked(str(PAYER.pubkey), "bad", str(PAYER.pubkey), 1, 6), "mint"),
    (lambda: spl_transfer_checked(str(PAYER.pubkey), MINT, str(PAYER.pubkey), -1, 6), "amount"),
    (lambda: spl_transfer_checked(str(PAYER.pubkey), MINT, str(PAYER.pubkey), 1, 256), "decimals"),
    (lambda: create_associated_token_account_idempotent("x", str(PAYER.pubkey), MINT), "payer"),
    (lambda: memo(""), "memo"),
    (lambda: sign_transaction([], PAYER.keypair, MINT), "instructions"),
    (lambda: sign_transaction([memo("x")], PAYER.keypair, "not-a-hash"), "blockhash"),
    (lambda: sign_transaction([memo("x", [str(SOLANA_ACCOUNTS[1].pubkey)])], PAYER.keypair,
                              MINT), "instructions"),
    (lambda: sign_transaction([memo("x" * MAX_TRANSACTION_SIZE)], PAYER.keypair, MINT),
     "instructions"),
])
def test_bad_input_is_refused_naming_the_argument(call, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        call()
