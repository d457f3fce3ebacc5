"""solana-local's JSON-RPC through solana-py's client and raw HTTP: the seeded state, SOL and SPL
transfers signed with solders, statuses, history, and errors in the Solana RPC format."""

from __future__ import annotations

import base64
import time

import pytest
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import transfer_checked
from spl.token.models import TransferCheckedParams

from devnet.solana_codec import b58encode
from devnet.solana_keys import GENESIS_HASH, SOLANA_ACCOUNTS, mint_keypair, solana_entry
from devnet.solana_rpc import serve
from tests.solana.conftest import call, post

USDC = 10**6
USER_A, USER_B = SOLANA_ACCOUNTS[3], SOLANA_ACCOUNTS[4]


def sol_transfer(client, sender: Keypair, to: Pubkey, lamports: int, signers=None) -> Transaction:
    blockhash = client.get_latest_blockhash().value.blockhash
    ix = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=to, lamports=lamports))
    return Transaction.new_signed_with_payer([ix], sender.pubkey(), signers or [sender], blockhash)


def status_of(client, sig):
    return client.get_signature_statuses([sig]).value[0]


def test_health_version_genesis_and_slots(server, client):
    assert call(server.url, "getHealth")["result"] == "ok"
    assert client.is_connected()
    assert client.get_version().value.solana_core
    assert str(client.get_genesis_hash().value) == GENESIS_HASH
    slot, height = client.get_slot().value, client.get_block_height().value
    assert slot > 0 and height > 0
    latest = client.get_latest_blockhash().value
    assert latest.last_valid_block_height == height + 150
    assert call(server.url, "isBlockhashValid", str(latest.blockhash))["result"]["value"] is True
    assert call(server.url, "isBlockhashValid", str(Hash.new_unique()))["result"]["value"] is False


def test_seeded_usdc_mint_and_accounts(client):
    mint = mint_keypair().pubkey()
    supply = client.get_token_supply(mint).value
    assert (supply.decimals, int(supply.amount)) == (6, 1_000_000 * USDC * len(SOLANA_ACCOUNTS))
    assert client.get_account_info(mint).value.owner == TOKEN_PROGRAM_ID
    entry = solana_entry("http://127.0.0.1:8899", 1, "x.log")
    assert entry["tokens"]["USDC"]["mint"] == str(mint) and entry["tokens"]["USDC"]["decimals"] == 6
    for acct, doc in zip(SOLANA_ACCOUNTS, entry["accounts"]):
        assert Keypair.from_base58_string(doc["secret_key"]).pubkey() == acct.pubkey == Pubkey.from_string(doc["pubkey"])
        assert client.get_balance(acct.pubkey).value >= 900 * 10**9
        if acct not in (USER_A, USER_B):  # those two move tokens in later tests
            assert client.get_token_account_balance(acct.usdc_account).value.amount == str(1_000_000 * USDC)
    accounts = client.get_multiple_accounts([USER_A.pubkey, Keypair().pubkey()]).value
    assert accounts[0].lamports > 0 and accounts[1] is None
    assert client.get_minimum_balance_for_rent_exemption(165).value == 2_039_280


def test_airdrop_then_balance(client):
    kp = Keypair()
    assert client.get_balance(kp.pubkey()).value == 0
    sig = client.request_airdrop(kp.pubkey(), 2 * 10**9).value
    assert status_of(client, sig).err is None
    assert client.get_balance(kp.pubkey()).value == 2 * 10**9


def test_sol_transfer_confirmed_and_indexed(client):
    sender, receiver = Keypair(), Keypair()
    client.request_airdrop(sender.pubkey(), 10**9)
    slot_before = client.get_slot(Processed).value
    sig = client.send_raw_transaction(bytes(sol_transfer(client, sender, receiver.pubkey(), 12_345_678))).value
    status = status_of(client, sig)
    assert status.err is None and str(status.confirmation_status) == "TransactionConfirmationStatus.Finalized"
    # a block closed: the slot being filled moved on, and the closed one is final
    assert status.slot >= slot_before and client.get_slot(Processed).value > status.slot
    assert client.get_slot(Finalized).value == client.get_slot(Confirmed).value >= status.slot
    assert client.get_balance(receiver.pubkey()).value == 12_345_678
    assert client.get_balance(sender.pubkey()).value == 10**9 - 12_345_678 - 5_000
    tx = client.get_transaction(sig).value
    assert tx.slot == status.slot and tx.transaction.meta.err is None and tx.transaction.meta.fee == 5_000
    assert "Program 11111111111111111111111111111111 success" in tx.transaction.meta.log_messages
    history = client.get_signatures_for_address(receiver.pubkey()).value
    assert [h.signature for h in history] == [sig]
    assert client.get_signatures_for_address(sender.pubkey()).value[0].signature == sig  # newest first


def test_spl_token_transfer_between_users(server, client):
    mint = mint_keypair().pubkey()
    before_a = int(client.get_token_account_balance(USER_A.usdc_account).value.amount)
    before_b = int(client.get_token_account_balance(USER_B.usdc_account).value.amount)
    ix = transfer_checked(TransferCheckedParams(program_id=TOKEN_PROGRAM_ID, source=USER_A.usdc_account, mint=mint,
                                                dest=USER_B.usdc_account, owner=USER_A.pubkey, amount=250 * USDC,
                                                decimals=6))
    owner = USER_A.keypair
    tx = Transaction.new_signed_with_payer([ix], owner.pubkey(), [owner], client.get_latest_blockhash().value.blockhash)
    sig = client.send_raw_transaction(bytes(tx)).value
    assert status_of(client, sig).err is None
    after_a = client.get_token_account_balance(USER_A.usdc_account).value
    after_b = client.get_token_account_balance(USER_B.usdc_account).value
    assert (int(after_a.amount), int(after_b.amount)) == (before_a - 250 * USDC, before_b + 250 * USDC)
    assert after_b.decimals == 6 and after_b.ui_amount_string == str((before_b + 250 * USDC) // USDC)
    assert sig in [h.signature for h in client.get_signatures_for_address(USER_B.usdc_account).value]
    meta = call(server.url, "getTransaction", str(sig), {"encoding": "json"})["result"]["meta"]
    keys = call(server.url, "getTransaction", str(sig))["result"]["transaction"]["message"]["accountKeys"]
    pre = {keys[b["accountIndex"]]: b for b in meta["preTokenBalances"]}
    post = {keys[b["accountIndex"]]: b for b in meta["postTokenBalances"]}
    a, b = str(USER_A.usdc_account), str(USER_B.usdc_account)
    assert set(pre) == set(post) == {a, b}                  # the token accounts, as a node has them
    assert (post[b]["mint"], post[b]["owner"], post[b]["programId"]) == \
        (str(mint), str(USER_B.pubkey), str(TOKEN_PROGRAM_ID))
    assert int(pre[a]["uiTokenAmount"]["amount"]) == before_a
    assert int(post[b]["uiTokenAmount"]["amount"]) == before_b + 250 * USDC
    assert post[b]["uiTokenAmount"]["decimals"] == 6


def test_failing_transaction_preflight_and_skip_preflight(client):
    poor = Keypair()
    client.request_airdrop(poor.pubkey(), 10**7)
    tx = sol_transfer(client, poor, Keypair().pubkey(), 10**9)
    with pytest.raises(RPCException) as caught:
        client.send_raw_transaction(bytes(tx))
    assert "custom program error: 0x1" in str(caught.value)
    assert status_of(client, tx.signatures[0]) is None  # preflight failure: nothing landed
    sig = client.send_raw_transaction(bytes(tx), opts=TxOpts(skip_preflight=True)).value
    status = status_of(client, sig)
    assert status is not None and status.err is not None  # landed, failed, fee charged
    assert client.get_balance(poor.pubkey()).value == 10**7 - 5_000
    meta = client.get_transaction(sig).value.transaction.meta
    assert meta.err is not None and any("insufficient lamports" in line for line in meta.log_messages)


def test_bad_signature_is_an_rpc_error(server, client):
    sender = Keypair()
    client.request_airdrop(sender.pubkey(), 10**9)
    good = sol_transfer(client, sender, Keypair().pubkey(), 1_000_000)
    forged = Transaction.populate(good.message, [Keypair().sign_message(bytes(good.message))])
    raw = base64.b64encode(bytes(forged)).decode()
    reply = call(server.url, "sendTransaction", raw, {"encoding": "base64"})
    assert reply["error"]["code"] == -32003 and "signature verification" in reply["error"]["message"]
    with pytest.raises(RPCException):
        client.send_raw_transaction(bytes(forged))
    # without preflight the cluster drops it: a signature comes back, but it never lands
    reply = call(server.url, "sendTransaction", raw, {"encoding": "base64", "skipPreflight": True})
    assert reply["result"] == str(forged.signatures[0])
    assert status_of(client, forged.signatures[0]) is None


def test_base58_encoding_and_duplicates(server, client):
    sender = Keypair()
    client.request_airdrop(sender.pubkey(), 10**9)
    tx = sol_transfer(client, sender, Keypair().pubkey(), 1_000_000)
    reply = call(server.url, "sendTransaction", b58encode(bytes(tx)))  # base58 is the RPC's default encoding
    assert reply["result"] == str(tx.signatures[0])
    again = call(server.url, "sendTransaction", b58encode(bytes(tx)))
    assert again["error"]["code"] == -32002 and again["error"]["data"]["err"] == "AlreadyProcessed"


def test_blockhashes_stay_valid_for_150_blocks_only(server, client):
    sender = Keypair()
    client.request_airdrop(sender.pubkey(), 10**9)
    old = client.get_latest_blockhash().value.blockhash
    for _ in range(3):  # other traffic closes blocks; the fetched blockhash still works
        client.request_airdrop(Keypair().pubkey(), 10**6)
    ix = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1_000_000))
    tx = Transaction.new_signed_with_payer([ix], sender.pubkey(), [sender], old)
    assert status_of(client, client.send_raw_transaction(bytes(tx)).value).err is None
    stale = Transaction.new_signed_with_payer([ix], sender.pubkey(), [sender], Hash.new_unique())
    reply = call(server.url, "sendTransaction", base64.b64encode(bytes(stale)).decode(), {"encoding": "base64"})
    assert reply["error"]["code"] == -32002 and reply["error"]["data"]["err"] == "BlockhashNotFound"


def test_simulate_transaction(server, client):
    sender = Keypair()
    client.request_airdrop(sender.pubkey(), 10**9)
    ix = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1_000_000))
    unsigned = VersionedTransaction.populate(Message.new_with_blockhash([ix], sender.pubkey(), Hash.default()),
                                             [Keypair().sign_message(b"x")])
    raw = base64.b64encode(bytes(unsigned)).decode()
    result = call(server.url, "simulateTransaction", raw, {"encoding": "base64", "replaceRecentBlockhash": True})
    value = result["result"]["value"]
    assert value["err"] is None and value["unitsConsumed"] > 0 and value["replacementBlockhash"]["blockhash"]
    signed = VersionedTransaction.from_legacy(sol_transfer(client, sender, Keypair().pubkey(), 10**12))
    sim = client.simulate_transaction(signed).value
    assert sim.err is not None and any("insufficient lamports" in line for line in sim.logs)
    assert client.get_balance(sender.pubkey()).value == 10**9  # simulation changes nothing


def test_signatures_for_address_paging(client):
    sender = Keypair()
    client.request_airdrop(sender.pubkey(), 10**9)
    sigs = [client.send_raw_transaction(bytes(sol_transfer(client, sender, Keypair().pubkey(), 1_000_000 + i))).value
            for i in range(4)]
    newest_first = list(reversed(sigs))
    page = client.get_signatures_for_address(sender.pubkey(), limit=2).value
    assert [p.signature for p in page] == newest_first[:2]
    rest = client.get_signatures_for_address(sender.pubkey(), before=page[-1].signature).value
    assert [p.signature for p in rest][:2] == newest_first[2:]
    until = client.get_signatures_for_address(sender.pubkey(), until=sigs[1]).value
    assert [p.signature for p in until] == newest_first[:2]


def test_protocol_errors_and_batches(server):
    reply = post(server.url, b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert reply == {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
    assert call(server.url, "getNoSuchThing")["error"]["code"] == -32601
    assert call(server.url, "getBalance", "not-a-pubkey")["error"]["code"] == -32602
    assert call(server.url, "getBalance")["error"]["code"] == -32602
    assert call(server.url, "sendTransaction", "!!!")["error"]["code"] == -32602
    assert call(server.url, "getTokenAccountBalance", str(SOLANA_ACCOUNTS[0].pubkey))["error"]["code"] == -32602
    assert post(server.url, [])["error"]["code"] == -32600
    assert post(server.url, {"id": 1, "method": "getSlot"})["error"]["code"] == -32600
    batch = post(server.url, [{"jsonrpc": "2.0", "id": 7, "method": "getHealth"},
                              {"jsonrpc": "2.0", "id": 8, "method": "nope"},
                              {"jsonrpc": "2.0", "id": 9, "method": "getBalance", "params": [str(USER_A.pubkey)]}])
    assert [r["id"] for r in batch] == [7, 8, 9]
    assert batch[0]["result"] == "ok" and batch[1]["error"]["code"] == -32601
    assert batch[2]["result"]["value"] > 0


def test_v0_transaction_and_version_negotiation(server, client):
    sender = SOLANA_ACCOUNTS[5].keypair
    blockhash = client.get_latest_blockhash().value.blockhash
    ix = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1_000_000))
    tx = VersionedTransaction(MessageV0.try_compile(sender.pubkey(), [ix], [], blockhash), [sender])
    sig = client.send_raw_transaction(bytes(tx)).value
    assert status_of(client, sig).err is None
    assert call(server.url, "getTransaction", str(sig))["error"]["code"] == -32015  # like a real node
    got = client.get_transaction(sig, max_supported_transaction_version=0).value
    assert got.transaction.version == 0 and got.transaction.meta.err is None
    assert call(server.url, "getTransactionCount")["result"] >= 1
    assert call(server.url, "getEpochInfo")["result"]["absoluteSlot"] == client.get_slot(Processed).value


def test_timer_closes_empty_blocks():
    srv = serve("127.0.0.1", 0, slot_ms=5)
    try:
        first = call(srv.url, "getLatestBlockhash")["result"]
        deadline = time.monotonic() + 5
        while call(srv.url, "getSlot")["result"] < first["context"]["slot"] + 3:  # polls; the timer runs freely
            assert time.monotonic() < deadline, "slots do not advance"
        latest = call(srv.url, "getLatestBlockhash")["result"]["value"]
        assert latest["blockhash"] != first["value"]["blockhash"]
        assert call(srv.url, "isBlockhashValid", first["value"]["blockhash"])["result"]["value"] is True
    finally:
        srv.shutdown()
        srv.server_close()


def test_finalized_trails_by_the_configured_lag():
    """With ``finalized_lag`` a transaction is confirmed at once and finalized that many
    slots later, as on a cluster: getSlot, getTransaction and the statuses follow; the
    node's client (``chains.solana.SolanaRpc.transaction``) says None until then."""
    from chains.solana import SolanaRpc

    srv = serve("127.0.0.1", 0, slot_ms=0)
    srv.methods.finalized_lag = 3
    rpc = SolanaRpc([srv.url], timeout=5)
    try:
        a, b = SOLANA_ACCOUNTS[3], SOLANA_ACCOUNTS[4]
        sig = srv.chain.send_instructions([transfer(TransferParams(
            from_pubkey=a.pubkey, to_pubkey=b.pubkey, lamports=5))], a.keypair, [])
        slot = call(srv.url, "getSlot", {"commitment": "processed"})["result"]
        assert call(srv.url, "getSlot", {"commitment": "confirmed"})["result"] == slot - 1
        assert call(srv.url, "getSlot", {"commitment": "finalized"})["result"] == slot - 1 - 3
        assert rpc.transaction(sig, commitment="confirmed")["slot"] <= slot
        assert rpc.transaction(sig, commitment="finalized") is None
        [status] = rpc.signature_statuses([sig])
        assert status is not None and status["confirmationStatus"] == "confirmed"
        for _ in range(3):
            srv.chain.new_block()
        assert rpc.transaction(sig, commitment="finalized")["transaction"]["signatures"] == [sig]
        assert rpc.signature_statuses([sig])[0]["confirmationStatus"] == "finalized"
        assert rpc.transaction(str(Keypair().sign_message(b"x")), commitment="finalized") is None
    finally:
        rpc.close()
        srv.shutdown()
        srv.server_close()
