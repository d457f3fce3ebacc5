"""The ``orbital`` user commands in-process against scripted servicers on a real loopback
server: output formats, exit codes, key handling (never printed). The same commands against
a real node are in test_e2e.py."""

from __future__ import annotations

import json
import threading

import grpc
import pytest
from eth_account import Account

from clients.cli import main
from orbital.v1 import intents_pb2, intents_pb2_grpc, quoter_pb2, quoter_pb2_grpc
from protocol import (CancelMessage, GaslessOrder, OrbitalOrder, parse_order_typed_data,
                      recover_cancel_signer, recover_order_signer)

from .conftest import SETTLER, USDC, USER, intent_pb

S = intents_pb2


class Node(intents_pb2_grpc.IntentServiceServicer, quoter_pb2_grpc.QuoterServiceServicer):
    """Just enough of the user API to drive the CLI: quotes, submit (verifying the
    signature), get, list with paging, cancel (verifying the signature), watch (scripted)."""

    def __init__(self):
        self.intents: dict[str, intents_pb2.Intent] = {}
        self.watch_script: list[tuple[int, int]] = []   # (version, status) after the snapshot
        self.watch_hangs = False                         # then stay open until cancelled
        self.nonce = 100
        self.lock = threading.Lock()

    def GetQuote(self, request, context):
        if request.input_amount == "13":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unlucky amount")
        with self.lock:
            self.nonce += 1
        order = GaslessOrder(SETTLER, request.user, self.nonce, 31337, 2_000_000_000,
                             2_000_003_600, OrbitalOrder(USDC, int(request.input_amount), USDC,
                                                         int(request.input_amount) - 10,
                                                         request.recipient or request.user,
                                                         31338),
                             permit2=request.signing == quoter_pb2.SIGNING_FORM_PERMIT2)
        return quoter_pb2.Quote(quote_id="q-1", output_amount=str(int(request.input_amount) - 5),
                                min_output_amount=str(int(request.input_amount) - 10),
                                fee_amount="5", route="USDC->USDC", gas_cost="1",
                                typed_data=json.dumps(order.typed_data()),
                                order_id="0x" + order.order_id.hex(),
                                signing=quoter_pb2.SIGNING_FORM_PERMIT2 if order.permit2
                                else quoter_pb2.SIGNING_FORM_ORBITAL)

    def SubmitIntent(self, request, context):
        order = parse_order_typed_data(request.typed_data)
        if recover_order_signer(order, request.signature) != order.user:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad signature")
        msg = intent_pb(order)
        self.intents[msg.id] = msg
        return msg

    def GetIntent(self, request, context):
        if request.id not in self.intents:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no intent {request.id}")
        return self.intents[request.id]

    def ListIntents(self, request, context):
        items = sorted(self.intents.values(), key=lambda i: i.id)
        start = int(request.page_token or 0)
        size = request.page_size or 2
        page = items[start:start + size]
        token = str(start + size) if start + size < len(items) else ""
        return intents_pb2.ListIntentsResponse(intents=page, next_page_token=token)

    def CancelIntent(self, request, context):
        i = self.intents[request.id]
        cancel = CancelMessage(i.origin_chain_id, i.origin_settler, bytes.fromhex(i.id[2:]),
                               int(i.nonce))
        if recover_cancel_signer(cancel, request.signature) != i.user:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad signature")
        i.status, i.version = S.INTENT_STATUS_CANCELLED, i.version + 1
        return i

    def WatchIntents(self, request, context):
        for iid in request.ids:
            intent = intents_pb2.Intent()
            intent.CopyFrom(self.intents[iid])
            yield intents_pb2.IntentUpdate(intent=intent, snapshot=True)
            for version, status in self.watch_script:
                prev = intent.status
                intent.status, intent.version = status, version
                out = intents_pb2.IntentUpdate(intent=intent)
                out.transition.version, out.transition.status = version, status
                out.transition.from_status = prev
                yield out
        if self.watch_hangs:
            gone = threading.Event()
            context.add_callback(gone.set)
            gone.wait()


@pytest.fixture
def node(serve):
    n = Node()
    target = serve(lambda s, server: (intents_pb2_grpc.add_IntentServiceServicer_to_server(s, server),
                                      quoter_pb2_grpc.add_QuoterServiceServicer_to_server(s, server)), n)
    n.target = target
    return n


ORDER_ARGS = ["--from", "devnet-a", "--to", "devnet-b", "--input", "USDC", "--output", "USDC"]


def run(node, capsys, *argv):
    code = main([argv[0], "--target", node.target, *argv[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def test_quote_human_and_json(node, capsys):
    code, out, _ = run(node, capsys, "quote", *ORDER_ARGS, "--amount", "1.5", "--decimals", "6",
                       "--user", USER.address)
    assert code == 0 and "route       USDC->USDC" in out and "1499990" in out
    code, out, _ = run(node, capsys, "quote", *ORDER_ARGS, "--amount", "1500000",
                       "--user", USER.address, "--json")
    q = json.loads(out)
    assert code == 0 and q["min_output_amount"] == "1499990"
    assert json.loads(q["typed_data"])["message"]["user"] == USER.address


def test_signing_permit2_is_asked_shown_signed_and_submitted(node, capsys, monkeypatch):
    code, out, _ = run(node, capsys, "quote", *ORDER_ARGS, "--amount", "1500000",
                       "--user", USER.address, "--signing", "permit2")
    assert code == 0 and "signing     permit2" in out
    code, out, _ = run(node, capsys, "quote", *ORDER_ARGS, "--amount", "1500000",
                       "--user", USER.address, "--signing", "permit2", "--json")
    q = json.loads(out)
    assert q["signing"] == "permit2"
    assert json.loads(q["typed_data"])["primaryType"] == "PermitWitnessTransferFrom"
    monkeypatch.setenv("ORBITAL_KEY", USER.private_key)
    code, out, _ = run(node, capsys, "submit", *ORDER_ARGS, "--amount", "100000000", "--signing", "permit2")
    assert code == 0 and out.strip().startswith("0x")   # signed as served, the signer recovered


def test_submit_with_key_from_env_prints_the_id(node, capsys, monkeypatch):
    monkeypatch.setenv("ORBITAL_KEY", USER.private_key)
    code, out, err = run(node, capsys, "submit", *ORDER_ARGS, "--amount", "100000000")
    assert code == 0
    iid = out.strip()
    assert list(node.intents) == [iid] and node.intents[iid].user == USER.address
    assert USER.private_key[2:] not in out + err


def test_submit_with_keystore_and_watch_until_settled(node, capsys, monkeypatch, tmp_path):
    path = tmp_path / "ks.json"
    path.write_text(json.dumps(Account.encrypt(USER.private_key, "pw", kdf="pbkdf2",
                                               iterations=16)))
    monkeypatch.setenv("ORBITAL_KEYSTORE_PASSWORD", "pw")
    node.watch_script = [(2, S.INTENT_STATUS_ASSIGNED), (3, S.INTENT_STATUS_OPENED),
                         (4, S.INTENT_STATUS_FILLED), (5, S.INTENT_STATUS_SETTLED)]
    code, out, err = run(node, capsys, "submit", *ORDER_ARGS, "--amount", "500", "--keystore",
                       str(path), "--watch")
    lines = out.splitlines()
    assert code == 0 and lines[0] in node.intents, err
    assert "PENDING (v1, current state)" in lines[1]
    assert [line.split()[-1] for line in lines[2:]] == ["ASSIGNED", "OPENED", "FILLED", "SETTLED"]


def test_watch_exit_codes(node, capsys, monkeypatch):
    monkeypatch.setenv("ORBITAL_KEY", USER.private_key)
    _, out, _ = run(node, capsys, "submit", *ORDER_ARGS, "--amount", "500")
    iid = out.strip()
    node.watch_script = [(2, S.INTENT_STATUS_EXPIRED)]
    code, out, _ = run(node, capsys, "watch", iid)
    assert code == 3 and out.splitlines()[-1].endswith("PENDING -> EXPIRED")
    node.watch_script = [(2, S.INTENT_STATUS_ASSIGNED), (3, S.INTENT_STATUS_OPENED)]
    code, out, _ = run(node, capsys, "watch", iid, "--until", "assigned", "--json")
    updates = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [u["intent"]["status"] for u in updates] == ["PENDING", "ASSIGNED"]
    node.watch_script = [(2, S.INTENT_STATUS_FILLED)]          # past "opened": reached
    code, out, _ = run(node, capsys, "watch", iid, "--until", "opened")
    assert code == 0 and out.splitlines()[-1].endswith("PENDING -> FILLED")


def test_watch_timeout_exit_code(node, capsys, monkeypatch):
    monkeypatch.setenv("ORBITAL_KEY", USER.private_key)
    _, out, _ = run(node, capsys, "submit", *ORDER_ARGS, "--amount", "500")
    iid = out.strip()
    node.watch_script, node.watch_hangs = [(2, S.INTENT_STATUS_ASSIGNED)], True
    code, out, err = run(node, capsys, "watch", iid, "--watch-timeout", "0.3")
    assert code == 4 and out.splitlines()[-1].endswith("PENDING -> ASSIGNED")
    assert err.strip() == (f"orbital watch: gave up after 0.3 s waiting for SETTLED "
                           f"({iid} ASSIGNED)")


def test_list_pages_through_everything(node, capsys, monkeypatch):
    monkeypatch.setenv("ORBITAL_KEY", USER.private_key)
    for amount in ("500", "600", "700"):
        run(node, capsys, "submit", *ORDER_ARGS, "--amount", amount)
    code, out, _ = run(node, capsys, "list", "--json")
    assert code == 0 and sorted(i["id"] for i in json.loads(out)) == sorted(node.intents)
    code, out, _ = run(node, capsys, "list")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["ID", "STATUS"]
    assert len(out.splitlines()) == 4


def test_cancel_and_get(node, capsys, monkeypatch):
    monkeypatch.setenv("ORBITAL_KEY", USER.private_key)
    _, out, _ = run(node, capsys, "submit", *ORDER_ARGS, "--amount", "500")
    iid = out.strip()
    code, out, _ = run(node, capsys, "cancel", iid)
    assert code == 0 and out.strip() == f"{iid} CANCELLED"
    code, out, _ = run(node, capsys, "get", iid)
    assert code == 0 and "status      CANCELLED  (version 2)" in out


def test_refusals_and_local_errors(node, capsys, monkeypatch):
    code, _, err = run(node, capsys, "quote", *ORDER_ARGS, "--amount", "13", "--user", USER.address)
    assert code == 1
    assert err.strip() == ("orbital quote: QuoterService/GetQuote failed: INVALID_ARGUMENT: "
                           "unlucky amount")
    code, _, err = run(node, capsys, "get", "0x" + "00" * 32)
    assert code == 1 and "NOT_FOUND" in err
    code, _, err = run(node, capsys, "quote", *ORDER_ARGS, "--amount", "1.5", "--user", USER.address)
    assert code == 2 and "has a fraction" in err
    monkeypatch.delenv("ORBITAL_KEY", raising=False)
    code, _, err = run(node, capsys, "submit", *ORDER_ARGS, "--amount", "500")
    assert code == 2 and "no key: set ORBITAL_KEY" in err
    monkeypatch.delenv("ORBITAL_KEYSTORE_PASSWORD", raising=False)
    code, _, err = run(node, capsys, "cancel", "0x" + "00" * 32, "--keystore", "ks.json")
    assert code == 2 and "set ORBITAL_KEYSTORE_PASSWORD (no terminal to prompt on)" in err
    bad_key = USER.private_key[:-1] + "x"
    monkeypatch.setenv("ORBITAL_KEY", bad_key)
    code, out, err = run(node, capsys, "submit", *ORDER_ARGS, "--amount", "500")
    assert code == 2 and "ORBITAL_KEY does not hold a valid private key" in err
    assert bad_key[2:30] not in out + err
    monkeypatch.setenv("ORBITAL_KEY", USER.private_key)
    code, _, err = run(node, capsys, "submit", *ORDER_ARGS, "--amount", "500", "--user",
                       "0x0000000000000000000000000000000000000001")
    assert code == 2 and "is not the key's address" in err and not node.intents


def test_operator_commands_are_still_there(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("run", "check-config", "tree", "nodes", "reload", "quote", "submit", "watch", "list",
                 "cancel"):
        assert name in out
