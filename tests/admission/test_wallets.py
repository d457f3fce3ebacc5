"""ERC-1271 wallets before each auction round, on a real devnet (both databases): a
contract wallet's order is admitted after the wallet approved its signature at submission,
and the book asks the wallet again before each round. A wallet that changed its mind (its
owner changed: the devnet's SimpleWallet with another owner's code put at its address) or
that reverts fails ``SIGNATURE`` with the wallet's own answer, is not auctioned, and is
auctioned again once the wallet accepts again. An order signed by a key is never put to a
wallet."""

from __future__ import annotations

import grpc
import pytest

from actors.admission import _actor as admission_actor
from actors.book._explain import FIXES
from actors.book import _wallets as book_wallets
from orbital.v1 import intents_pb2 as P
from runtime.testing import wait_until
from tests._wallet import deploy_wallet, fund_wallet
from tests.solvers.conftest import SolverClient

from .conftest import ONE_USDC, make_order, signed_request

# Runtime code that reverts every call with Error("wallet locked"): copy the 100 bytes of
# revert data that follow the 12 bytes of code into memory, revert with them.
_LOCKED = ("0x6064600c600039" "60646000fd"
           "08c379a0" + (32).to_bytes(32, "big").hex() + (13).to_bytes(32, "big").hex()
           + b"wallet locked".ljust(32, b"\0").hex())


@pytest.fixture
def wallet_calls(monkeypatch):
    """Every eth_getCode / isValidSignature the node makes for a wallet (submission and
    admission), by the address asked."""
    calls: list[tuple[str, str]] = []

    def spy(name, real):
        def wrapper(rpc, address, *args, **kw):
            calls.append((name, address))
            return real(rpc, address, *args, **kw)
        return wrapper
    monkeypatch.setattr(book_wallets, "has_code", spy("has_code", book_wallets.has_code))
    monkeypatch.setattr(book_wallets, "ask_wallet", spy("ask_wallet", book_wallets.ask_wallet))
    monkeypatch.setattr(admission_actor, "ask_wallet",
                        spy("ask_wallet", admission_actor.ask_wallet))
    return calls


def _wallet(chain_a, amount: int):
    """A SimpleWallet holding ``amount`` USDC approved to the settler, and its owner."""
    owner = chain_a.user(funded=amount)
    wallet = deploy_wallet(chain_a.w3, owner.address)
    fund_wallet(chain_a.w3, wallet, chain_a.usdc.address, amount, chain_a.settler.address)
    return wallet, owner


def _set_code(chain_a, address: str, code: str) -> None:
    """Replace ``address``'s code, and mine: on a real chain the change is a transaction's,
    and admission's reads are cached per block."""
    chain_a.rpc("anvil_setCode", address, code)
    chain_a.rpc("evm_mine")


def _not_executable(stub, intent_id: str) -> list:
    return [h for h in stub.GetIntent(P.GetIntentRequest(id=intent_id)).history
            if h.finding == "not_executable"]


def test_a_wallet_whose_owner_changed_fails_signature_at_the_next_round(
        admission_node, chain_a, wallet_calls):
    node, stub = admission_node()
    wallet, owner = _wallet(chain_a, 100 * ONE_USDC)
    order = make_order(wallet, nonce=1, amount=100 * ONE_USDC)
    got = stub.SubmitIntent(signed_request(order, owner.key.hex()))   # the wallet approves
    assert got.status == P.INTENT_STATUS_PENDING
    assert ("ask_wallet", wallet.address) in wallet_calls
    # the owner changes: the same wallet address now holds a SimpleWallet of another owner
    original = chain_a.rpc("eth_getCode", wallet.address, "latest")
    other = deploy_wallet(chain_a.w3, chain_a.user().address)
    _set_code(chain_a, wallet.address, chain_a.rpc("eth_getCode", other.address, "latest"))
    assert not chain_a.opens(order, signed_request(order, owner.key.hex()).signature)
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        solver = SolverClient(ch).connect()                          # a round would start now
        entry = wait_until(lambda: _not_executable(stub, got.id), what="not_executable entry")[0]
        assert entry.status == P.INTENT_STATUS_PENDING
        assert f"the contract wallet {wallet.address} no longer accepts the order's signature " \
               "(isValidSignature answered 0xffffffff, not 0x1626ba7e)" in entry.reason
        assert entry.reason.endswith("not auctioned")
        assert solver.of("offer") == []
        x = stub.ExplainIntent(P.ExplainIntentRequest(id=got.id))
        [check] = x.admission
        assert check.check.startswith("SIGNATURE: not executable on devnet-a at block ")
        assert check.fix == FIXES["SIGNATURE"]
        # toggled back: the owner's signature is the wallet's again; the next check runs it
        _set_code(chain_a, wallet.address, original)
        offer = solver.wait_for("offer")
        assert offer.intent.id == got.id
        assert len(_not_executable(stub, got.id)) == 1                # once per cause
        solver.cancel()
    finally:
        ch.close()


def test_a_wallet_that_reverts_fails_signature_with_its_reason(admission_node, chain_a):
    node, stub = admission_node()
    wallet, owner = _wallet(chain_a, 100 * ONE_USDC)
    order = make_order(wallet, nonce=1, amount=100 * ONE_USDC)
    got = stub.SubmitIntent(signed_request(order, owner.key.hex()))
    _set_code(chain_a, wallet.address, _LOCKED)                      # now reverts, always
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        solver = SolverClient(ch).connect()
        entry = wait_until(lambda: _not_executable(stub, got.id), what="not_executable entry")[0]
        assert f"the contract wallet {wallet.address} no longer accepts the order's signature " \
               "(isValidSignature reverted: wallet locked)" in entry.reason
        assert solver.of("offer") == []
        solver.cancel()
    finally:
        ch.close()


def test_an_order_signed_by_a_key_is_never_put_to_a_wallet(admission_node, chain_a, wallet_calls):
    node, stub = admission_node()
    user = chain_a.user(funded=100 * ONE_USDC, approved=100 * ONE_USDC)
    got = stub.SubmitIntent(signed_request(make_order(user, nonce=1), user.key.hex()))
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        solver = SolverClient(ch).connect()                   # the round's check, then offer
        assert solver.wait_for("offer").intent.id == got.id
        solver.cancel()
    finally:
        ch.close()
    assert _not_executable(stub, got.id) == []
    assert wallet_calls == []
