"""On-chain cancel of Permit2-form orders through the book (docs/erc7683.md "On-chain
cancellation"): ``orbital cancel --onchain ID`` of an intent whose source is ``permit2``
burns the nonce's bit on Permit2 (``invalidateUnorderedNonces``); the watcher indexes
Permit2's ``UnorderedNonceInvalidation`` and the book moves every Permit2-form intent whose
nonce the mask covers to CANCELLED, with the transaction in its history. One mask can
cancel several intents of one user; it never cancels an order signed in the Orbital form,
whose open does not read Permit2's bitmap."""

from __future__ import annotations

import json

import grpc
from eth_account import Account

from clients import IntentStatus, OrbitalClient, OrbitalRpcError
from protocol import PERMIT2_ADDRESS, abi

from .conftest import erc20, settler, wait_until
from .test_onchain_cancel import _applied, _cancel

S = IntentStatus
ONE_USDC = 10**6
MAX = 2**256 - 1


def _users(devnet_info):
    return [x for x in devnet_info.accounts if "user" in x.roles]


def _permit2(w3):
    return w3.eth.contract(address=PERMIT2_ADDRESS, abi=abi("Permit2"))


def _approve_permit2(w3, chain, user) -> None:
    usdc = erc20(w3, chain.contracts.tokens["USDC"].address)
    tx = usdc.functions.approve(PERMIT2_ADDRESS, MAX).transact({"from": user.address})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def _submit(client, user, *, signing: str, nonce: int | None = None, amount=20 * ONE_USDC):
    """A PENDING intent of ``user`` signed in ``signing`` form, with ``nonce`` if given (the
    quote's order re-signed with it). Admission reuses a chain head for head_ttl: an
    approval just mined may not be seen yet, so an ALLOWANCE refusal is asked again."""
    quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", amount, user.address,
                         signing=signing)
    assert quote.signing == signing
    typed = json.loads(quote.typed_data)
    if nonce is not None:
        order = typed["message"]["witness"] if signing == "permit2" else typed["message"]
        order["nonce"] = str(nonce)
        if signing == "permit2":
            typed["message"]["nonce"] = str(nonce)
    sig = "0x" + bytes(Account.sign_typed_data(user.private_key, full_message=typed).signature).hex()

    def attempt():
        try:
            return client.submit(typed, sig)
        except OrbitalRpcError as exc:
            if exc.code == grpc.StatusCode.FAILED_PRECONDITION and \
                    [k for k, _, _ in exc.preconditions] == ["ALLOWANCE"]:
                return None
            raise
    intent = wait_until(attempt, what="submitted")
    assert intent.status is S.PENDING and intent.source == ("permit2" if signing == "permit2"
                                                            else "gasless")
    return intent


def _bit(w3, user, nonce) -> int:
    return _permit2(w3).functions.nonceBitmap(user, nonce >> 8).call() >> (nonce & 0xFF) & 1


def test_onchain_cancel_of_a_permit2_order_burns_its_permit2_nonce(
        system, devnet_info, w3s, monkeypatch, capsys):
    node = system()          # no solver: the intent stays PENDING until cancelled
    a = devnet_info.chains[0]
    user = _users(devnet_info)[0]
    _approve_permit2(w3s[0], a, user)
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        intent = _submit(client, user, signing="permit2")
        code, out, err = _cancel(node, devnet_info, intent.id, user.private_key, monkeypatch,
                                 capsys, "--watch", "--watch-timeout", "60")
        assert code == 0, err
        sent = json.loads(out.splitlines()[0])
        assert sent["method"] == "invalidateUnorderedNonces"
        assert sent["contract"] == PERMIT2_ADDRESS
        assert (int(sent["word"]), int(sent["mask"])) == (intent.nonce >> 8, 1 << (intent.nonce & 0xFF))
        assert _bit(w3s[0], user.address, intent.nonce) == 1
        # Permit2's bit only: the settler's nonce is untouched
        assert not settler(w3s[0], a.contracts.settler).functions.usedNonces(
            user.address, intent.nonce).call()
        done = wait_until(lambda intent=intent: (i := client.get(intent.id)).status is S.CANCELLED and i,
                          what="CANCELLED")
    assert [t.status for t in done.history] == [S.PENDING, S.CANCELLED]
    last = done.history[-1]
    assert last.evidence is not None and last.evidence.chain == "devnet-a"
    assert last.evidence.tx_hash == sent["tx_hash"]
    assert "nonce invalidated on chain" in last.reason and "Permit2" in last.reason
    # a second cancel: Permit2 would not refuse an already set bit, the client does
    code, _, err = _cancel(node, devnet_info, intent.id, user.private_key, monkeypatch, capsys)
    assert code == 2 and "Permit2 nonce" in err and "nothing sent" in err


def test_one_mask_cancels_two_permit2_intents_of_one_user(system, devnet_info, w3s):
    node = system()
    a = devnet_info.chains[0]
    user = _users(devnet_info)[1]
    _approve_permit2(w3s[0], a, user)
    word = 0x5EED
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        first = _submit(client, user, signing="permit2", nonce=(word << 8) | 3)
        second = _submit(client, user, signing="permit2", nonce=(word << 8) | 200)
        spared = _submit(client, user, signing="permit2", nonce=(word << 8) | 4)  # not in the mask
        tx = _permit2(w3s[0]).functions.invalidateUnorderedNonces(
            word, (1 << 3) | (1 << 200)).transact({"from": user.address})
        assert w3s[0].eth.wait_for_transaction_receipt(tx)["status"] == 1
        tx_hash = "0x" + bytes(tx).hex()
        for intent in (first, second):
            done = wait_until(lambda intent=intent: (i := client.get(intent.id)).status is S.CANCELLED and i,
                              what=f"{intent.id} CANCELLED")
            assert [t.status for t in done.history] == [S.PENDING, S.CANCELLED]
            assert done.history[-1].evidence.tx_hash == tx_hash
        wait_until(lambda: _applied(node, tx), what="the invalidation applied")
        assert client.get(spared.id).status is S.PENDING
        # the settler's invalidation cancels a Permit2-form order too
        s = settler(w3s[0], a.contracts.settler)
        tx = s.functions.invalidateNonce(spared.nonce).transact({"from": user.address})
        assert w3s[0].eth.wait_for_transaction_receipt(tx)["status"] == 1
        done = wait_until(lambda: (i := client.get(spared.id)).status is S.CANCELLED and i,
                          what="CANCELLED by the settler")
    assert [t.status for t in done.history] == [S.PENDING, S.CANCELLED]
    assert done.history[-1].evidence.tx_hash == "0x" + bytes(tx).hex()


def test_a_permit2_invalidation_does_not_cancel_a_key_signed_order(
        system, devnet_info, w3s, monkeypatch, capsys):
    node = system()
    a = devnet_info.chains[0]
    user = _users(devnet_info)[2]
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        intent = _submit(client, user, signing="orbital")
        # the same nonce bits burnt on Permit2: the Orbital form's openFor never reads them
        tx = _permit2(w3s[0]).functions.invalidateUnorderedNonces(
            intent.nonce >> 8, 1 << (intent.nonce & 0xFF)).transact({"from": user.address})
        assert w3s[0].eth.wait_for_transaction_receipt(tx)["status"] == 1
        wait_until(lambda: _applied(node, tx), what="the invalidation applied")
        assert client.get(intent.id).status is S.PENDING
        # its on-chain cancel is the settler's, as before
        code, out, err = _cancel(node, devnet_info, intent.id, user.private_key, monkeypatch,
                                 capsys)
        assert code == 0, err
        sent = json.loads(out.splitlines()[0])
        assert sent["method"] == "invalidateNonce" and sent["contract"] == a.contracts.settler
        assert "word" not in sent
        done = wait_until(lambda intent=intent: (i := client.get(intent.id)).status is S.CANCELLED and i,
                          what="CANCELLED")
    assert [t.status for t in done.history] == [S.PENDING, S.CANCELLED]
    assert done.history[-1].evidence.tx_hash == sent["tx_hash"]
    assert "Permit2" not in done.history[-1].reason
