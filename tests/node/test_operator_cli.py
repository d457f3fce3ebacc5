"""The operator commands of ``orbital`` (tasks, funding, strategies, solvers, shortfall,
events, restart-actor, stop-actor, tree, chains) against one real node on a devnet (two
anvils, every kind of build_app plus a funding account and a rebalance strategy, the
reference solver connected), on SQLite: the store's side is covered by the services'
own tests; here each command's table and ``--json`` are checked against what the node's
gRPC services answer, and each refusal against the status it prints and the exit code.

Most calls run the CLI in this process (``node.cli.main``, output read with capsys); a
few run the installed console script, to see exit codes and stderr as a shell does.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3

import devnet
from chains.evm.models import ChainCursor
from devnet import chains_yaml, free_ports
from node import build_app
from node.cli import main as orbital
from orbital.v1 import admin_pb2, admin_pb2_grpc, chain_pb2, chain_pb2_grpc
from protocol import abi
from runtime.testing import wait_until
from tests._node import ADMIN, TOKEN, TestNodes, node_config, write_config

ORBITAL = str(Path(sys.executable).with_name("orbital"))
OPERATOR_GAS = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"   # devnet account 2
DEPOSITS = 3


@pytest.fixture(scope="module")
def devnet_info(tmp_path_factory):
    with devnet.running(tmp_path_factory.mktemp("devnet"), ports=free_ports(2),
                        quiet=True) as info:
        yield info


def _deposit(info, times: int) -> None:
    """``times`` bridge deposits on devnet-a by the user account: BridgeDeposit events for
    the watcher to index (the deploy leaves none)."""
    chain = info.chains[0]
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url, request_kwargs={"timeout": 30}))
    user = info.account("user")
    bridge = w3.eth.contract(address=chain.contracts.bridge, abi=abi("Bridge"))
    usdc = chain.contracts.tokens["USDC"].address
    for i in range(times):
        tx = bridge.functions.deposit(usdc, 1_000_000 + i, 31338, user.address).build_transaction(
            {"from": user.address, "nonce": w3.eth.get_transaction_count(user.address),
             "gas": 300_000})
        signed = w3.eth.account.sign_transaction(tx, user.private_key)
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(
            signed.raw_transaction), timeout=30)
        assert receipt.status == 1


def _settle_one(node, info) -> str:
    """One intent from devnet-a to devnet-b, through to SETTLED: the solver gets an offer
    (so the book has its record) and the chains get Open, Filled and Settled events."""
    from clients import IntentStatus, OrbitalClient
    user = info.account("user")
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 25_000_000, user.address)
        intent = client.sign_and_submit(quote, user.private_key)
        wait_until(lambda: client.get(intent.id).status is IntentStatus.SETTLED, timeout=90,
                   what="the intent settled")
    return intent.id


@pytest.fixture(scope="module")
def node(tmp_path_factory, devnet_info):
    """A node with every kind, keeper tasks, one funding account, one dry-run strategy and
    the reference solver connected; ``.admin`` and ``.chains`` are its stubs."""
    tmp = tmp_path_factory.mktemp("operator")
    _deposit(devnet_info, DEPOSITS)
    doc = node_config(f"sqlite:///{tmp}/orbital.db", tmp / "var", {
        "intents": {"auction_window": 0.2, "min_open_window": 0},
        "attester": {"key": "${ORBITAL_ATTESTER_KEY}", "poll_interval": 0.2,
                     "shortfall_policy": "hold"},
        "quoter": {"cache_ttl": 0, "prices": {"USDC": {"static": "1"},
                                             "WETH": {"static": "3000"}}},
        "keeper": {"tasks": {
            "prune-runs": {"cron": "0 0 3 * * *", "action": "prune",
                           "args": {"table": "keeper_run", "days": 30}},
            "expire-intents": {"cron": "0 0 4 * * *", "action": "expire_intents"}}},
        "funding": {"accounts": {"operator-gas-a": {
            "chain": "devnet-a", "address": OPERATOR_GAS, "asset": "native",
            "min_balance": "1", "target_balance": "5", "max_per_top_up": "5",
            "daily_cap": "20", "cooldown": 60, "poll_interval": 600,
            "source": {"key": "${ORBITAL_TREASURY_KEY}"}}}},
        "rebalance": {"strategies": {"operator-usdc": {
            "token": "USDC", "weights": {"devnet-a": 0.5, "devnet-b": 0.5},
            "tolerance": 0.05, "min_transfer": "10", "max_transfer": "500000",
            "poll_interval": 3600, "dry_run": True,
            "signer": {"key": "${ORBITAL_OPERATOR_KEY}"}}}}},
        admission=False, shutdown_timeout=3)
    path = write_config(tmp / "supervisor.yaml", doc, chains_yaml(devnet_info))
    env = {**os.environ, **{var: devnet_info.account(role).private_key for var, role in (
        ("ORBITAL_ATTESTER_KEY", "attester"), ("ORBITAL_TREASURY_KEY", "treasury"),
        ("ORBITAL_OPERATOR_KEY", "operator"))}}
    from solver import Solver, load_config
    with TestNodes(tmp) as nodes:
        n = nodes.start(path, build_app, env=env)
        n.admin = nodes.stub(n, admin_pb2_grpc.AdminServiceStub)
        n.chains = nodes.stub(n, chain_pb2_grpc.ChainServiceStub)
        solver = Solver(load_config(target=f"127.0.0.1:{n.grpc_port}",
                                    devnet_dir=devnet_info.state_dir,
                                    env={"ORBITAL_SOLVER_KEY":
                                         devnet_info.account("solver").private_key},
                                    backoff=None)).start()
        try:
            assert solver.connected.wait(15), solver.error
            n.solver = devnet_info.account("solver").address
            n.intent = _settle_one(n, devnet_info)
            wait_until(lambda: len(n.chains.ListEvents(chain_pb2.ListEventsRequest(
                name="BridgeDeposit"), timeout=10).events) == DEPOSITS,
                what="the deposits indexed")
            wait_until(lambda: "Settled" in {e.name for e in n.chains.ListEvents(
                chain_pb2.ListEventsRequest(), timeout=10).events}, what="the settlement indexed")
            yield n
        finally:
            solver.stop()


@pytest.fixture
def cli(node, capsys, monkeypatch):
    """``cli(*args)`` -> (exit code, stdout, stderr) of ``orbital ARGS --address <node>``."""
    monkeypatch.setenv("ORBITAL_ADMIN_TOKEN", TOKEN)

    def run(*args: str) -> tuple[int, str, str]:
        code = orbital([*args, "--address", f"127.0.0.1:{node.grpc_port}"])
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def shell(node, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    """The installed console script, as an operator's shell runs it."""
    env = {k: v for k, v in os.environ.items() if k != "ORBITAL_ADMIN_TOKEN"}
    if token is not None:
        env["ORBITAL_ADMIN_TOKEN"] = token
    return subprocess.run([ORBITAL, *args, "--address", f"127.0.0.1:{node.grpc_port}"],
                          capture_output=True, text=True, env=env, timeout=60)


def rows(out: str) -> dict[str, list[str]]:
    """A table's rows by their first column (split on whitespace)."""
    return {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def admin_tasks(node) -> dict[str, admin_pb2.TaskInfo]:
    reply = node.admin.ListTasks(admin_pb2.ListTasksRequest(), metadata=ADMIN, timeout=10)
    return {t.name: t for t in reply.tasks}


def as_json(message) -> dict:
    from google.protobuf.json_format import MessageToDict
    return MessageToDict(message, preserving_proto_field_name=True)


# ---- tasks ---------------------------------------------------------------------------
def test_tasks_list_pause_resume_run(node, cli):
    table = rows(ok(cli("tasks")))
    assert table["NAME"][:4] == ["NAME", "CRON", "ACTION", "STATE"]
    assert table["prune-runs"][1:8] == ["0", "0", "3", "*", "*", "*", "prune"]
    assert table["prune-runs"][8] == "scheduled" and table["expire-intents"][8] == "scheduled"
    assert json.loads(ok(cli("tasks", "list", "--json"))) == as_json(
        node.admin.ListTasks(admin_pb2.ListTasksRequest(), metadata=ADMIN, timeout=10))

    paused = rows(ok(cli("tasks", "pause", "prune-runs")))
    assert paused["prune-runs"][8] == "paused"
    assert admin_tasks(node)["prune-runs"].paused
    assert rows(ok(cli("tasks")))["prune-runs"][8:10] == ["paused", "-"]   # no next run
    resumed = json.loads(ok(cli("tasks", "resume", "prune-runs", "--json")))
    assert resumed["task"]["name"] == "prune-runs" and "paused" not in resumed["task"]
    assert not admin_tasks(node)["prune-runs"].paused

    out = ok(cli("tasks", "run", "expire-intents"))
    run_id = out.splitlines()[-1].removeprefix("started run ")
    assert run_id and out.splitlines()[-1] == f"started run {run_id}"
    wait_until(lambda: admin_tasks(node)["expire-intents"].runs == 1, what="the run to end")
    task = admin_tasks(node)["expire-intents"]
    listed = " ".join(rows(ok(cli("tasks")))["expire-intents"])
    assert f" 1 0 {task.last_result}" in listed   # RUNS, SKIPPED, LAST RESULT


def test_tasks_refusals(node, cli):
    code, out, err = cli("tasks", "pause", "no-such-task")
    assert (code, out) == (1, "")
    assert err.startswith("NOT_FOUND: ") and "no-such-task" in err and err.count("\n") == 1
    code, _, err = cli("tasks", "run")
    assert code == 2 and "give the task's NAME" in err


# ---- actors --------------------------------------------------------------------------
def test_stop_and_restart_an_actor(node, cli):
    path = "keeper"
    assert rows(ok(cli("tree")))[path][2] == "running"
    assert ok(cli("stop-actor", path)).startswith(f"stopped {path} ")
    tree = node.admin.GetTree(admin_pb2.GetTreeRequest(), metadata=ADMIN, timeout=10)
    assert {a.path: a.state for a in tree.actors}[path] == "stopped"
    assert rows(ok(cli("tree")))[path][2] == "stopped"
    code, _, err = cli("tasks")   # the keeper is what answers ListTasks
    assert code == 1 and err.startswith("UNAVAILABLE: ")

    restarted = json.loads(ok(cli("restart-actor", path, "--json")))
    assert restarted["actor"]["path"] == path and restarted["actor"]["state"] == "running"
    assert rows(ok(cli("tree")))[path][2] == "running"
    listed = json.loads(ok(cli("tree", "--json")))
    assert {a["path"]: a["state"] for a in listed["actors"]}[path] == "running"
    assert rows(ok(cli("tasks")))["prune-runs"][8] == "scheduled"


def test_unknown_actor_path_is_refused_with_its_status(node):
    for command in ("stop-actor", "restart-actor"):
        done = shell(node, command, "no/such/actor")
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.startswith("NOT_FOUND: ") and "no/such/actor" in done.stderr
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_admin_commands_without_a_token(node, tmp_path):
    done = shell(node, "tasks", "--state-dir", str(tmp_path), token=None)
    assert done.returncode == 2 and "no admin token" in done.stderr
    assert "Traceback" not in done.stderr
    wrong = shell(node, "funding", token="not-the-token")
    assert wrong.returncode == 1 and wrong.stderr.startswith("UNAUTHENTICATED: ")
    assert "not-the-token" not in wrong.stderr


# ---- events and chains ---------------------------------------------------------------
def test_events_table_json_and_pages(node, cli):
    everything = node.chains.ListEvents(chain_pb2.ListEventsRequest(), timeout=10)
    deposits = [e for e in everything.events if e.name == "BridgeDeposit"]
    assert len(deposits) == DEPOSITS

    table = ok(cli("events", "--chain", "devnet-a", "--name", "BridgeDeposit"))
    lines = table.splitlines()
    assert lines[0].split() == ["CHAIN", "BLOCK", "LOG", "NAME", "ORDER", "ID", "TX"]
    assert [line.split() for line in lines[1:]] == [
        ["devnet-a", str(e.block_number), str(e.log_index), "BridgeDeposit", e.order_id,
         e.tx_hash] for e in deposits]

    doc = json.loads(ok(cli("events", "--json")))
    assert doc == {"events": [as_json(e) for e in everything.events], "next_page_token": ""}

    first = ok(cli("events", "--name", "BridgeDeposit", "--limit", "2"))
    assert len(first.splitlines()) == 4 and "more: --page-token " in first
    token = first.rsplit("--page-token ", 1)[1].strip()
    rest = json.loads(ok(cli("events", "--name", "BridgeDeposit", "--page-token", token,
                              "--json")))
    assert rest == {"events": [as_json(deposits[2])], "next_page_token": ""}
    every = json.loads(ok(cli("events", "--name", "BridgeDeposit", "--limit", "1", "--all",
                              "--json")))
    assert [e["tx_hash"] for e in every["events"]] == [e.tx_hash for e in deposits]
    block = deposits[1].block_number
    ranged = json.loads(ok(cli("events", "--chain", "31337", "--from-block", str(block), "--to-block", str(block),
                               "--json")))
    assert [e["tx_hash"] for e in ranged["events"]] == [deposits[1].tx_hash]


def test_events_refusals(node):
    bad = shell(node, "events", "--page-token", "not-a-token")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("INVALID_ARGUMENT: ") and "[page_token: " in bad.stderr
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    chain = shell(node, "events", "--chain", "nope")
    assert chain.returncode == 1 and "[chain: unknown chain" in chain.stderr
    inverted = shell(node, "events", "--from-block", "9", "--to-block", "3")
    assert inverted.returncode == 1 and "[from_block: " in inverted.stderr
    negative = shell(node, "events", "--limit", "-1")
    assert negative.returncode == 2 and "Traceback" not in negative.stderr


def test_chains_show_the_backfill(node, cli):
    """A caught-up watcher shows 100%; one whose stored cursor is 300 blocks behind the head
    it last saw (a backfill cut short, the watcher stopped) shows the share indexed."""
    wait_until(lambda: all(c.lag == 0 for c in node.chains.ListChains(
        chain_pb2.ListChainsRequest(), timeout=10).chains), what="the watchers caught up")
    table = rows(ok(cli("chains")))
    assert table["NAME"][6:9] == ["INDEXED", "LAG", "SYNCED"]   # CHAIN ID is two words
    assert [table[n][6:8] for n in ("devnet-a", "devnet-b")] == [["0", "100%"]] * 2

    ok(cli("stop-actor", "chains/watcher/devnet-b"))
    with node.store.connection():
        cursor = ChainCursor.get(ChainCursor.chain == "devnet-b")
        ChainCursor.update(head=cursor.block_number + 300).where(
            ChainCursor.chain == "devnet-b").execute()
    try:
        indexed = cursor.block_number
        share = math.floor(1000 * (indexed + 1) / (indexed + 301)) / 10   # start_block 0
        [info] = [c for c in node.chains.ListChains(chain_pb2.ListChainsRequest(),
                                                    timeout=10).chains if c.name == "devnet-b"]
        assert (info.running, info.lag, info.synced_percent) == (False, 300, share)
        row = rows(ok(cli("chains")))["devnet-b"]
        assert row[5:8] == [str(indexed), "300", f"{share:g}%"] and row[-1] == "stopped"
        doc = json.loads(ok(cli("chains", "--json")))
        assert [c["synced_percent"] for c in doc["chains"] if c["name"] == "devnet-b"] == [share]
    finally:
        with node.store.connection():
            ChainCursor.update(head=cursor.head).where(
                ChainCursor.chain == "devnet-b").execute()
        ok(cli("restart-actor", "chains/watcher/devnet-b"))


# ---- funding, strategies, solvers, shortfall -----------------------------------------
def test_funding_and_strategies(node, cli):
    reply = node.admin.ListFundingAccounts(admin_pb2.ListFundingAccountsRequest(),
                                           metadata=ADMIN, timeout=10)
    [account] = reply.accounts
    row = rows(ok(cli("funding")))["operator-gas-a"]
    assert account.address.lower() == OPERATOR_GAS.lower()
    assert row[1:8] == ["devnet-a", "native", account.address, account.balance,
                        account.min_balance, account.target_balance, account.remaining_daily_cap]
    assert row[8] == account.state
    assert json.loads(ok(cli("funding", "--json"))) == as_json(
        node.admin.ListFundingAccounts(admin_pb2.ListFundingAccountsRequest(),
                                       metadata=ADMIN, timeout=10))

    strategies = node.admin.ListStrategies(admin_pb2.ListStrategiesRequest(), metadata=ADMIN,
                                           timeout=10).strategies
    [s] = strategies
    out = ok(cli("strategies"))
    lines = out.splitlines()
    assert lines[0].split() == ["STRATEGY", "TOKEN", "STATE", "CHAIN", "BALANCE", "WEIGHT",
                                "TARGET", "IN", "BAND"]
    assert lines[1].split()[:3] == ["operator-usdc", "USDC", s.state]
    assert "dry-run" in lines[1]
    chains = {w.chain: w for w in s.weights}
    assert set(chains) == {"devnet-a", "devnet-b"}
    for line in lines[1:3]:
        name = next(c for c in chains if c in line.split())
        assert f"{chains[name].target:.3f}" in line.split() and chains[name].balance in line
    assert json.loads(ok(cli("strategies", "--json")))["strategies"][0]["name"] == "operator-usdc"


def test_solvers_and_a_solver_record(node, cli):
    listed = node.admin.ListSolvers(admin_pb2.ListSolversRequest(), metadata=ADMIN, timeout=10)
    assert [s.solver.lower() for s in listed.solvers] == [node.solver.lower()]
    solver = listed.solvers[0].solver
    table = ok(cli("solvers"))
    row = rows(table)[solver]
    assert row[1] == f"{listed.solvers[0].reliability:.3f}"
    assert table.splitlines()[-1] == "1 solver(s), lowest reliability first"
    assert json.loads(ok(cli("solvers", "--json"))) == as_json(listed)
    assert json.loads(ok(cli("solvers", "--suspended", "--json"))) == {}

    record = ok(cli("solvers", solver.lower()))
    assert record.splitlines()[0].split() == ["solver", solver]
    assert "lifetime      offers " in record
    assert json.loads(ok(cli("solvers", solver, "--json"))) == as_json(
        node.admin.GetSolverRecord(admin_pb2.GetSolverRecordRequest(solver=solver),
                                   metadata=ADMIN, timeout=10))

    code, _, err = cli("solvers", "0x" + "11" * 20)
    assert code == 1 and err.startswith("NOT_FOUND: ") and "[solver: " in err
    code, _, err = cli("solvers", "not-an-address")
    assert code == 1 and err.startswith("INVALID_ARGUMENT: ") and "[solver: " in err
    code, _, err = cli("solvers", "--limit", "1001")
    assert code == 1 and err.startswith("INVALID_ARGUMENT: ") and "[limit: " in err


def test_shortfall_decide_refusals(node, cli):
    unknown = "0x" + "ab" * 32
    code, out, err = cli("shortfall", "decide", unknown, "--repay", "--note", "checked")
    assert (code, out) == (1, "") and err.startswith("NOT_FOUND: ")
    assert err.count("\n") == 1
    code, out, err = cli("shortfall", "decide", node.intent, "--withhold")   # settled, not held
    assert (code, out) == (1, "") and err.startswith("FAILED_PRECONDITION: ")
    code, _, err = cli("shortfall", "decide", "0x1234", "--withhold")
    assert code == 1 and err.startswith("INVALID_ARGUMENT: ") and "[intent_id: " in err
    with pytest.raises(SystemExit) as usage:       # neither --repay nor --withhold
        orbital(["shortfall", "decide", unknown])
    assert usage.value.code == 2


def test_every_admin_and_chain_method_has_a_command():
    """A method added to AdminService or ChainService without a command fails here."""
    covered = {"GetTree": "tree", "ReloadConfig": "reload", "RestartActor": "restart-actor",
               "StopActor": "stop-actor", "ListNodes": "nodes", "ListTasks": "tasks",
               "PauseTask": "tasks", "ResumeTask": "tasks", "RunTask": "tasks",
               "ListFundingAccounts": "funding", "ListStrategies": "strategies",
               "ListAlerts": "alerts", "DecideShortfall": "shortfall",
               "ListSolvers": "solvers", "GetSolverRecord": "solvers",
               "ListChains": "chains", "ListEvents": "events"}
    methods = {m.name for service in (admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
                                      chain_pb2.DESCRIPTOR.services_by_name["ChainService"])
               for m in service.methods}
    assert methods == set(covered)
    from node.cli import add_subcommands
    import argparse
    sub = argparse.ArgumentParser().add_subparsers()
    add_subcommands(sub)
    missing = {m: c for m, c in covered.items() if c not in sub.choices}
    assert not missing
