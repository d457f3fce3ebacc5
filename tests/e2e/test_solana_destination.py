"""EVM-to-Solana intents through the node on the devnet (anvil + solana-local): the quote and
its typed data (OrbitalOrder32, base58 recipient and SPL mint), submission, the Open on the
EVM origin, and the fill on Solana judged by the one evidence rule from the Solana watcher's
memo-tagged transfers: the first proving transfer makes FILLED, a transfer with the right memo
but the wrong mint, recipient or amount does not, and a second proving one is not a second
fill. Bad addresses are refused on each RPC with the field named."""

from __future__ import annotations

import json

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from solders.keypair import Keypair

from chains.solana import SolanaRpc
from clients import IntentStatus, OrbitalClient, OrbitalRpcError
from devnet.solana_keys import SOLANA_ACCOUNTS
from protocol import abi, parse_order_typed_data
from protocol.accounts import account_to_bytes32
from protocol.solana import (associated_token_address, create_associated_token_account_idempotent,
                             memo, spl_transfer_checked, sign_transaction)

from .conftest import wait_until

S = IntentStatus
ONE_USDC = 10**6
FILLER = SOLANA_ACCOUNTS[2]          # the devnet's Solana solver account (holds USDC)
OTHER = SOLANA_ACCOUNTS[4]


def _sol(devnet_info) -> dict:
    assert devnet_info.solana is not None, "the e2e devnet runs solana-local"
    return devnet_info.solana


def _send(devnet_info, instructions, payer: Keypair) -> str:
    rpc = SolanaRpc([_sol(devnet_info)["rpc_url"]])
    blockhash, _ = rpc.latest_blockhash("confirmed")
    tx = sign_transaction(instructions, payer, blockhash)
    sig = rpc.send_transaction(tx.wire, skip_preflight=False)
    status = wait_until(lambda: (rpc.signature_statuses([sig]) or [None])[0],
                        what="the transfer landed")
    rpc.close()
    assert status.get("err") is None, status
    return sig


def _fill(devnet_info, order_id: str, recipient: str, amount: int, *, mint: str | None = None,
          payer=FILLER) -> str:
    sol = _sol(devnet_info)
    mint = mint or sol["tokens"]["USDC"]["mint"]
    owner = str(payer.pubkey)
    return _send(devnet_info, [
        create_associated_token_account_idempotent(owner, recipient, mint),
        spl_transfer_checked(owner, mint, recipient, amount, 6),
        memo(order_id)], payer.keypair)


def _token_balance(devnet_info, owner: str) -> int:
    rpc = SolanaRpc([_sol(devnet_info)["rpc_url"]])
    mint = _sol(devnet_info)["tokens"]["USDC"]["mint"]
    got = rpc.client.call("getTokenAccountBalance", [associated_token_address(owner, mint)])
    rpc.close()
    return int(got["value"]["amount"])


def _open(w3s, devnet_info, typed_data: str, signature: str) -> None:
    """The awarded solver's openFor on the origin, naming itself as the filler."""
    a = devnet_info.chains[0]
    solver = devnet_info.account("solver")
    settler = w3s[0].eth.contract(address=a.contracts.settler, abi=abi("OrbitalSettler"))
    order = parse_order_typed_data(typed_data)
    tx = settler.functions.openFor(order.to_abi(), bytes.fromhex(signature[2:]),
                                   abi_encode(["address"], [solver.address])).build_transaction(
        {"from": solver.address, "nonce": w3s[0].eth.get_transaction_count(solver.address),
         "gas": 600_000})
    signed = Account.sign_transaction(tx, solver.private_key)
    receipt = w3s[0].eth.wait_for_transaction_receipt(
        w3s[0].eth.send_raw_transaction(signed.raw_transaction))
    assert receipt["status"] == 1


def _submit(client, devnet_info, recipient: str, amount: int = 100 * ONE_USDC):
    user = [x for x in devnet_info.accounts if "user" in x.roles][0]
    quote = client.quote("devnet-a", "solana-local", "USDC", "USDC", amount, user.address,
                         recipient=recipient)
    signature = "0x" + bytes(Account.sign_typed_data(
        user.private_key, full_message=json.loads(quote.typed_data)).signature).hex()
    return quote, signature, client.submit(quote.typed_data, signature)


def test_quote_submit_open_and_fill_on_solana(system, devnet_info, w3s):
    node = system()
    recipient = str(Keypair().pubkey())          # a wallet with no token account yet
    mint = _sol(devnet_info)["tokens"]["USDC"]["mint"]
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote, signature, intent = _submit(client, devnet_info, recipient)
        typed = json.loads(quote.typed_data)
        assert "OrbitalOrder32" in typed["types"]
        assert typed["message"]["orderData"]["recipient"] == "0x" + account_to_bytes32(recipient).hex()
        assert typed["message"]["orderData"]["outputToken"] == "0x" + account_to_bytes32(mint).hex()
        assert typed["message"]["orderData"]["destinationChainId"] == "900"
        assert quote.output_token == mint
        assert intent.status is S.PENDING and intent.recipient == recipient
        assert intent.output_token == mint and intent.destination_chain == "solana-local"
        _open(w3s, devnet_info, quote.typed_data, signature)
        wait_until(lambda: client.get(intent.id).status is S.OPENED, what="OPENED")
        minimum = int(quote.min_output_amount)
        # right memo, wrong mint / recipient / amount: foreign fills, never FILLED
        _fill(devnet_info, intent.id, str(OTHER.pubkey), minimum)            # another recipient
        _fill(devnet_info, intent.id, recipient, minimum - 1)               # below the minimum
        wait_until(lambda: sum(t.finding == "foreign_fill" for t in client.get(intent.id).history) == 2,
                   what="two foreign fills recorded")
        assert client.get(intent.id).status is S.OPENED
        # the proving one, then a second proving one (a gift, not a second fill)
        first = _fill(devnet_info, intent.id, recipient, minimum)
        wait_until(lambda: client.get(intent.id).status is S.FILLED, what="FILLED")
        _fill(devnet_info, intent.id, recipient, minimum)
        final = client.get(intent.id)
    filled = [t for t in final.history if t.status is S.FILLED and t.evidence is not None]
    assert len(filled) == 1 and filled[0].evidence.tx_hash == first
    assert filled[0].evidence.chain == "solana-local"
    assert _token_balance(devnet_info, recipient) == 2 * minimum + (minimum - 1)


@pytest.mark.parametrize("destination, recipient, field, words", [
    ("solana-local", "0x" + "11" * 20, "recipient", "0x (EVM) address; this is a Solana chain"),
    ("solana-local", "", "recipient", "recipient is required when the destination is a Solana"),
    ("solana-local", "not-base58-0OIl", "recipient", "not a Solana public key"),
    ("devnet-b", str(Keypair().pubkey()), "recipient", "base58 (Solana) key; this is an EVM chain"),
])
def test_bad_recipients_are_refused_with_the_field(system, devnet_info, destination, recipient,
                                                   field, words):
    node = system()
    user = [x for x in devnet_info.accounts if "user" in x.roles][0]
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client, \
            pytest.raises(OrbitalRpcError) as err:
        client.quote("devnet-a", destination, "USDC", "USDC", 100 * ONE_USDC, user.address,
                     recipient=recipient or None)
    assert err.value.code_name == "INVALID_ARGUMENT"
    assert [f for f, _ in err.value.violations] == [field] and words in err.value.message


def test_solana_is_not_an_origin_and_orders_must_match_their_destination(system, devnet_info):
    node = system()
    user = [x for x in devnet_info.accounts if "user" in x.roles][0]
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        with pytest.raises(OrbitalRpcError) as err:
            client.quote("solana-local", "devnet-b", "USDC", "USDC", ONE_USDC, user.address)
        assert err.value.code_name == "INVALID_ARGUMENT"
        assert [f for f, _ in err.value.violations] == ["origin_chain"]
        # an OrbitalOrder (EVM addresses) to the Solana chain id is refused at submission
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 100 * ONE_USDC, user.address)
        typed = json.loads(quote.typed_data)
        typed["message"]["orderData"]["destinationChainId"] = "900"
        signature = "0x" + bytes(Account.sign_typed_data(user.private_key,
                                                          full_message=typed).signature).hex()
        with pytest.raises(OrbitalRpcError) as err:
            client.submit(json.dumps(typed), signature)
        assert err.value.code_name == "INVALID_ARGUMENT"
        assert [f for f, _ in err.value.violations] == ["typed_data.message.orderDataType"]
        assert "OrbitalOrder32" in err.value.message


def test_the_cli_quotes_and_submits_to_a_solana_recipient(system, devnet_info, capsys,
                                                          monkeypatch):
    from clients.cli import main
    node = system()
    user = [x for x in devnet_info.accounts if "user" in x.roles][0]
    recipient = str(Keypair().pubkey())
    args = ["--target", f"127.0.0.1:{node.grpc_port}", "--from", "devnet-a", "--to",
            "solana-local", "--input", "USDC", "--output", "USDC", "--amount", "100000000",
            "--recipient", recipient]
    assert main(["quote", *args, "--user", user.address, "--json"]) == 0
    quote = json.loads(capsys.readouterr().out)
    assert quote["output_token"] == _sol(devnet_info)["tokens"]["USDC"]["mint"]
    assert "OrbitalOrder32" in json.loads(quote["typed_data"])["types"]
    monkeypatch.setenv("ORBITAL_KEY", user.private_key)
    assert main(["submit", *args]) == 0
    iid = capsys.readouterr().out.strip()
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        got = client.get(iid)
    assert got.recipient == recipient and got.destination_chain == "solana-local"
    assert main(["quote", *args[:-1], "0x" + "22" * 20, "--user", user.address]) != 0
    assert "this is a Solana chain" in capsys.readouterr().err


def test_evm_to_solana_from_submit_to_settled(system, devnet_info, w3s, tmp_path, capsys,
                                              monkeypatch):
    """The whole lifecycle: `orbital submit` to a Solana recipient, the reference solver bids
    from its SPL inventory, wins, opens on the origin naming itself, fills on solana-local
    (one memo-tagged transfer), the book sees FILLED, the attester re-reads the fill at
    finalized and settles on the origin: the solver is repaid the input, the recipient holds
    the output."""
    from clients.cli import main
    from solver import Solver, load_config
    node = system()
    cfg = load_config(target=f"127.0.0.1:{node.grpc_port}", devnet_dir=devnet_info.state_dir,
                      env={"ORBITAL_SOLVER_KEY": devnet_info.account("solver").private_key},
                      solana_devnet_account="solver", state_dir=str(tmp_path / "solver"),
                      backoff=None)
    assert any(c.chain_id == 900 for c in cfg.solana_chains)
    solver = Solver(cfg).start()
    try:
        assert solver.connected.wait(15), solver.error
        a = devnet_info.chains[0]
        user = [x for x in devnet_info.accounts if "user" in x.roles][0]
        filler = devnet_info.account("solver").address
        usdc_a = w3s[0].eth.contract(address=a.contracts.tokens["USDC"].address,
                                     abi=abi("TestToken"))
        before = usdc_a.functions.balanceOf(filler).call()
        recipient = str(Keypair().pubkey())
        monkeypatch.setenv("ORBITAL_KEY", user.private_key)
        assert main(["submit", "--target", f"127.0.0.1:{node.grpc_port}", "--from", "devnet-a",
                     "--to", "solana-local", "--input", "USDC", "--output", "USDC", "--amount",
                     "100000000", "--recipient", recipient, "--watch", "--watch-timeout",
                     "90"]) == 0
        out = capsys.readouterr().out
        assert "SETTLED" in out, out
        iid = out.split()[0]
        with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
            final = client.get(iid)
    finally:
        solver.stop()
    statuses = [t.status for t in final.history]
    assert statuses[-3:] == [S.OPENED, S.FILLED, S.SETTLED], statuses
    filled = [t for t in final.history if t.status is S.FILLED][0]
    assert filled.evidence.chain == "solana-local"
    assert final.filled_output_amount >= final.awarded_output_amount >= final.min_output_amount
    assert _token_balance(devnet_info, recipient) == final.filled_output_amount
    assert usdc_a.functions.balanceOf(filler).call() - before == 100 * ONE_USDC
