"""chains.evm.txsend under RPC failover, through a real loopback proxy in front of a real
anvil: a proxy that forwards a request and drops the response, and one whose receipts lag.
A lost reply is not a lost transaction, and a refusal or a missing receipt from one
endpoint is not proof that ours did not land: FAILED and DROPPED are concluded only after a
lookup by hash confirms it."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from eth_account import Account

from chains.evm import RpcClient
from chains.evm.txsend import MIGRATION, EvmTx, TxConfig, TxSender
from runtime.store import Store

from .conftest import ETH, fresh_address


class Proxy:
    """JSON-RPC proxy to ``upstream`` on a free loopback port. ``rule(body) -> str``:
    "forward" (answer as upstream did), "drop" (forward, then close the connection with no
    answer: the reply is lost after the node acted) or "null-receipts" (forward, answer
    every eth_getTransactionReceipt with null: a node whose receipts lag)."""

    def __init__(self, upstream: str, rule: Callable[[object], str]) -> None:
        proxy = self
        self.upstream, self.rule, self.seen = upstream, rule, []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = json.loads(body)
                action = proxy.rule(request)
                proxy.seen.append((action, request))
                upstream = urllib.request.Request(proxy.upstream, body,
                                                  {"Content-Type": "application/json"})
                with urllib.request.urlopen(upstream, timeout=10) as resp:
                    reply = json.loads(resp.read())
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if action == "null-receipts":
                    calls = request if isinstance(request, list) else [request]
                    replies = reply if isinstance(reply, list) else [reply]
                    ids = {c["id"] for c in calls if c["method"] == "eth_getTransactionReceipt"}
                    for r in replies:
                        if r.get("id") in ids:
                            r["result"] = None
                out = json.dumps(reply).encode()
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

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _methods(request) -> set[str]:
    calls = request if isinstance(request, list) else [request]
    return {c["method"] for c in calls}


@pytest.fixture
def store(database_url, tmp_path):
    s = Store(database_url, state_dir=str(tmp_path), migrations=[MIGRATION])
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def proxied(chain_a, store, treasury):
    """sender(rule) -> a TxSender whose RPC client has the proxy first, anvil second."""
    made = []

    chain_a.rpc("evm_setAutomine", True)    # another test may have left it off
    def make(rule) -> TxSender:
        proxy = Proxy(chain_a.info.rpc_url, rule)
        rpc = RpcClient([proxy.url, chain_a.info.rpc_url], timeout=5)
        sender = TxSender("devnet-a", chain_a.info.chain_id, rpc,
                          Account.from_key(treasury.private_key), store, "test/failover",
                          TxConfig())
        made.append((proxy, sender))
        return sender
    yield make
    for proxy, sender in made:
        sender.close()
        sender.rpc.close()
        proxy.close()


def _statuses(store) -> list[str]:
    with store.connection():
        return [r.status for r in EvmTx.select().order_by(EvmTx.id)]


def test_a_lost_reply_is_not_a_failed_transaction(chain_a, treasury, proxied, store):
    """The proxy forwards the broadcast (anvil mines it at once) and drops the reply. The
    sender must not send the same bytes blind to the next endpoint (which would answer
    "nonce too low" and the row would be FAILED while it was mined): the row stays unsent,
    and the next poll finds it mined."""
    sender = proxied(lambda req: "drop" if "eth_sendRawTransaction" in _methods(req)
                     else "forward")
    start = chain_a.nonce(treasury.address)
    to = fresh_address()
    row = sender.submit(to, value=ETH, gas=21_000, reference="lost-reply")
    assert row.status == "pending" and row.sent_at is None     # the reply was lost
    assert chain_a.nonce(treasury.address) == start + 1        # ... the transaction was not
    done = sender.poll()
    assert [(r.id, r.status) for r in done] == [(row.id, "mined")]
    assert _statuses(store) == ["mined"]
    assert chain_a.w3.eth.get_balance(to) == ETH               # paid once


def test_a_refusal_is_believed_only_after_a_lookup(chain_a, treasury, proxied, store):
    """The broadcast reaches anvil through the proxy, its reply is lost; the next poll
    re-sends the same bytes to anvil, which refuses them ("nonce too low": mined): the
    lookup by hash finds ours, so the row is not FAILED and its nonce not handed out."""
    drops = iter([True])
    sender = proxied(lambda req: "drop" if "eth_sendRawTransaction" in _methods(req)
                     and next(drops, False) else "forward")
    row = sender.submit(fresh_address(), value=ETH, gas=21_000, reference="refused")
    assert row.sent_at is None
    sender._broadcast(row, fresh=True)   # what a fresh send does with the same bytes
    assert row.status == "pending" and row.sent_at is not None
    assert [r.status for r in sender.poll()] == ["mined"]
    nxt = sender.submit(fresh_address(), value=1, gas=21_000, reference="next")
    assert nxt.nonce == row.nonce + 1


def test_no_receipt_from_a_lagging_node_is_not_dropped(chain_a, treasury, proxied, store):
    """The endpoint counts our nonce as used but has no receipt yet (receipts lag): the
    transaction is known by hash there, so it is not DROPPED; once a receipt shows, MINED."""
    lagging = {"on": True}
    sender = proxied(lambda req: "null-receipts" if lagging["on"] else "forward")
    row = sender.submit(fresh_address(), value=ETH, gas=21_000, reference="lagging")
    assert row.sent_at is not None
    assert sender.poll() == []                 # count says used, no receipt: wait, not DROPPED
    assert _statuses(store) == ["pending"]
    lagging["on"] = False
    assert [r.status for r in sender.poll()] == ["mined"]
