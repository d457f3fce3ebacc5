"""The remote signer (chains.evm.signer.RemoteSigner): transactions signed by a signer's
JSON-RPC ``eth_signTransaction`` (here anvil's own, for an account it holds unlocked), so
the node never holds the key; what the signer answers is checked before it is recorded or
sent. Through the real transaction sender on a real anvil, both databases."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chains.evm import RpcClient, RpcError
from chains.evm.signer import RemoteSigner, SignerConfig
from chains.evm.txsend import MIGRATION, TxConfig, TxSender
from runtime import ConfigError
from runtime.config import load_text
from runtime.store import Store

from devnet.accounts import account as dev_account

from .conftest import ETH, fresh_address


def devnet_account(i: int) -> str:
    """Another of anvil's unlocked dev accounts."""
    return dev_account(i).address


@pytest.fixture
def store(database_url, tmp_path):
    s = Store(database_url, state_dir=str(tmp_path), migrations=[MIGRATION])
    s.migrate()
    yield s
    s.close()


def test_a_remote_signer_signs_and_the_sender_sends(chain_a, treasury, store):
    chain_a.rpc("evm_setAutomine", True)
    signer = RemoteSigner(chain_a.info.rpc_url, treasury.address)
    assert not hasattr(signer, "key") and treasury.private_key[2:] not in repr(vars(signer))
    rpc = RpcClient([chain_a.info.rpc_url], timeout=10)
    sender = TxSender("devnet-a", chain_a.info.chain_id, rpc, signer, store, "test/remote",
                      TxConfig())
    to = fresh_address()
    row = sender.submit(to, value=ETH, gas=21_000, reference="remote")
    assert row.sent_at is not None and row.sender == treasury.address
    [done] = sender.poll()
    assert done.status == "mined"
    assert chain_a.w3.eth.get_balance(to) == ETH
    sender.close()
    rpc.close()
    signer.close()


class _Lying:
    """A signer endpoint that signs something else than asked: it forwards to anvil with
    fields of the request rewritten (a compromised or buggy signer)."""

    def __init__(self, upstream: str, rewrite: dict, *, sign_as: str = "") -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if req.get("method") == "eth_signTransaction":
                    req["params"][0].update(rewrite)
                if req.get("method") == "eth_sign" and sign_as:
                    req["params"][0] = sign_as
                with urllib.request.urlopen(urllib.request.Request(
                        upstream, json.dumps(req).encode(),
                        {"Content-Type": "application/json"}), timeout=10) as resp:
                    out = resp.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_signer_that_signs_something_else_is_refused_and_nothing_is_sent(chain_a, treasury,
                                                                           store):
    lying = _Lying(chain_a.info.rpc_url, {"to": fresh_address()})
    signer = RemoteSigner(lying.url, treasury.address)
    to = fresh_address()
    with pytest.raises(RpcError, match="the signer changed to"):
        signer.sign_transaction({"type": 2, "chainId": chain_a.info.chain_id, "nonce": 0,
                                 "to": to, "value": 1, "data": "0x", "gas": 21_000,
                                 "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 1})
    # and one that signs with another account's key than the configured one
    swapped = _Lying(chain_a.info.rpc_url, {"from": treasury.address})
    other = RemoteSigner(swapped.url, devnet_account(1))
    with pytest.raises(RpcError, match="signed by"):
        other.sign_transaction({"type": 2, "chainId": chain_a.info.chain_id, "nonce": 0,
                                "to": to, "value": 1, "data": "0x", "gas": 21_000,
                                "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 1})
    for server in (lying.server, swapped.server):
        server.shutdown()
        server.server_close()


def test_a_challenge_signed_remotely_recovers_to_the_address_or_is_refused(chain_a, treasury):
    """The in-house solver's session challenge (EIP-191) through ``eth_sign``: the signature
    is checked to recover to the configured address before it is used."""
    from eth_account import Account
    from eth_account.messages import encode_defunct
    message = encode_defunct(text="orbital challenge 0123")
    signer = RemoteSigner(chain_a.info.rpc_url, treasury.address)
    signed = signer.sign_message(message)
    assert Account.recover_message(message, signature=signed.signature) == treasury.address
    swapped = _Lying(chain_a.info.rpc_url, {}, sign_as=devnet_account(1))
    other = RemoteSigner(swapped.url, treasury.address)
    with pytest.raises(RpcError, match="eth_sign: signed by"):
        other.sign_message(message)
    for s in (signer, other):
        s.close()
    swapped.server.shutdown()
    swapped.server.server_close()


@pytest.mark.parametrize("body, words", [
    ("remote: 'http://127.0.0.1:8550'", "needs address"),
    ("remote: 'http://127.0.0.1:8550', address: '0x" + "11" * 20 + "', key: '${K}'",
     "one of key, keystore or remote"),
    ("address: '0x" + "11" * 20 + "'", "address goes with remote"),
    ("remote: 'ftp://x', address: '0x" + "11" * 20 + "'", "expected a value matching"),
])
def test_remote_signer_config_is_checked_at_load(body, words):
    from node import new_app
    app = new_app()
    app.section("signer", SignerConfig)
    with pytest.raises(ConfigError) as err:
        load_text("signer: {" + body + "}\n", "s.yaml", app, {"K": "0x" + "22" * 32})
    assert words in str(err.value) and "s.yaml:1" in str(err.value)
