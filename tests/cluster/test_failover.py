"""Three nodes on one PostgreSQL: real ``orbital run`` processes on the devnet (issue 13).

Node A starts first and takes every singleton lease (the book, the attesters, the funding
account); B and C stand by. The reference solver holds its session on C, users submit to
every node, and watch streams run on B and C. Then A is killed with SIGKILL mid-flow:

- every acknowledged intent still reaches SETTLED;
- nothing is settled or funded twice (counted on anvil: Settled events per order, transfers
  into the funded account);
- the watch streams on B and C see every transition of every intent in order, no gaps.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

import psycopg2
import pytest
from eth_account import Account
from web3 import Web3

import devnet
from clients import IntentStatus, OrbitalClient, OrbitalRpcError
from devnet import chains_yaml, free_ports
from runtime.testing import scratch_postgres, wait_until
from tests._node import node_config, write_config
from tests.node.test_process import Proc

S = IntentStatus
ONE_USDC = 10**6
LEASE_TTL = 3.0
PG_BASE = os.environ.get("ORBITAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def devnet_info(tmp_path_factory):
    with devnet.running(tmp_path_factory.mktemp("devnet"), ports=free_ports(2), quiet=True) as info:
        yield info


@pytest.fixture
def cluster_db():
    with scratch_postgres(PG_BASE, "orbital_cluster") as url:
        yield url


class Cluster:
    """``orbital run`` processes on one database, each on its own ports and state dir."""

    def __init__(self, tmp: Path, info, url: str, funded: str, lease_ttl: float = LEASE_TTL) -> None:
        self.tmp, self.info, self.url, self.funded = tmp, info, url, funded
        self.lease_ttl = lease_ttl
        self.procs: dict[str, Proc] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str) -> Proc:
        port = free_ports(1)[0]
        state = self.tmp / name
        state.mkdir(parents=True, exist_ok=True)
        doc = node_config(self.url, state / "var", {
            "intents": {"auction_window": 0.2, "min_open_window": 0, "heartbeat_interval": 0.5,
                        "heartbeat_timeout": 5},
            "attester": {"key": "${ORBITAL_ATTESTER_KEY}", "poll_interval": 0.2},
            "quoter": {"cache_ttl": 0, "prices": {"USDC": {"static": "1"},
                                                  "WETH": {"static": "3000"}}},
            "funding": {"accounts": {"gas": {
                "chain": "devnet-a", "address": self.funded, "asset": "native",
                "min_balance": "1", "target_balance": "2", "max_per_top_up": "2",
                "daily_cap": "20", "cooldown": 1, "poll_interval": 0.5,
                "source": {"key": "${ORBITAL_TREASURY_KEY}", "low_balance": "1"}}}}},
            grpc_port=port, name=name, lease_ttl=self.lease_ttl, shutdown_timeout=3)
        # The chains' leases expire with the node's: a watcher that took longer to move
        # than a solver's exclusivity would charge it with fades for opens made meanwhile
        # (docs/cluster.md, "Failure cases").
        path = write_config(state / "supervisor.yaml", doc,
                            chains_yaml(self.info, poll_interval=0.1, confirmations=0,
                                        lease_ttl=self.lease_ttl))
        env = {"ORBITAL_ATTESTER_KEY": self.info.account("attester").private_key,
               "ORBITAL_TREASURY_KEY": self.info.account("treasury").private_key}
        self.procs[name] = Proc(path, str(self.tmp), env=env)
        self.ports[name] = port
        wait_until(lambda: self._serving(name), timeout=60, what=f"{name} serving")
        return self.procs[name]

    def _serving(self, name: str) -> bool:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        assert self.procs[name].p.poll() is None, self.procs[name].raw[-20:]
        try:
            with grpc.insecure_channel(self.target(name)) as ch:
                return health_pb2_grpc.HealthStub(ch).Check(
                    health_pb2.HealthCheckRequest(), timeout=1).status == 1
        except grpc.RpcError:
            return False

    def target(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def holders(self) -> dict[str, str]:
        """Lease name -> holder's node name, for unexpired leases (the database's view)."""
        with psycopg2.connect(self.url) as conn, conn.cursor() as cur:
            cur.execute('SELECT l.name, n.name FROM lease l JOIN node_instance n '
                        'ON n.instance = l.owner WHERE l.expires_at >= %s', (time.time(),))
            return dict(cur.fetchall())

    def kill(self, name: str) -> None:
        self.procs[name].p.send_signal(signal.SIGKILL)
        self.procs[name].p.wait(10)

    def stop_all(self) -> None:
        for p in self.procs.values():
            p.stop()


def _watch(target: str, ids: list[str], seen: dict[str, list], done: threading.Event) -> None:
    with OrbitalClient(target) as client:
        for update in client.watch(ids, timeout=240):
            seen[update.intent.id].append((update.intent.version, update.intent.status))
    done.set()


def test_kill_9_of_the_holder_loses_nothing_and_doubles_nothing(tmp_path, devnet_info,
                                                                 cluster_db):
    from solver import Solver, load_config
    a_chain, b_chain = devnet_info.chains
    w3a = Web3(Web3.HTTPProvider(a_chain.rpc_url))
    treasury = devnet_info.account("treasury").address
    funded = Account.create().address
    cluster = Cluster(tmp_path, devnet_info, cluster_db, funded)
    solver = None
    try:
        cluster.start("node-a")
        singletons = {"book", "attester:devnet-a", "attester:devnet-b", "funding:gas"}
        wait_until(lambda: singletons <= {k for k, v in cluster.holders().items()
                                           if v == "node-a"},
                   timeout=30, what="node-a holds every singleton")
        wait_until(lambda: w3a.eth.get_balance(funded) == Web3.to_wei(2, "ether"),
                   timeout=30, what="the first top-up")
        cluster.start("node-b")
        cluster.start("node-c")
        cfg = load_config(target=cluster.target("node-c"), devnet_dir=devnet_info.state_dir,
                          env={"ORBITAL_SOLVER_KEY": devnet_info.account("solver").private_key},
                          backoff=None)
        solver = Solver(cfg).start()
        assert solver.connected.wait(30), solver.error

        # Users submit through every node; B and C watch.
        users = [x for x in devnet_info.accounts if "user" in x.roles]
        ids: list[str] = []
        for i, node in enumerate(["node-a", "node-b", "node-c"] * 2):
            user = users[i % len(users)]
            with OrbitalClient(cluster.target(node)) as client:
                quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC",
                                     (10 + i) * ONE_USDC, user.address)
                ids.append(client.sign_and_submit(quote, user.private_key).id)
        seen = {n: defaultdict(list) for n in ("node-b", "node-c")}
        done = {n: threading.Event() for n in seen}
        for n in seen:
            threading.Thread(target=_watch, args=(cluster.target(n), ids, seen[n], done[n]),
                             daemon=True).start()

        # Mid-flow: the funded account is drained below its minimum (a need), intents are
        # being filled; the holder of everything dies.
        w3a.provider.make_request("anvil_setBalance", [funded, hex(Web3.to_wei(0.5, "ether"))])
        time.sleep(0.3)
        killed_at = time.monotonic()
        cluster.kill("node-a")

        # A user keeps submitting through a survivor meanwhile (retrying UNAVAILABLE).
        user = users[0]
        with OrbitalClient(cluster.target("node-b")) as client:
            quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 7 * ONE_USDC,
                                 user.address)
            for _ in range(100):
                try:
                    ids.append(client.sign_and_submit(quote, user.private_key).id)
                    break
                except OrbitalRpcError as exc:
                    assert exc.code.name == "UNAVAILABLE", exc
                    time.sleep(0.2)
            else:
                pytest.fail("no node accepted a submission after the failover")
        took_over = time.monotonic() - killed_at
        assert took_over < LEASE_TTL + 10

        with OrbitalClient(cluster.target("node-c")) as client:
            for intent_id in ids:
                final = client.wait(intent_id)
                assert final.status is S.SETTLED, (intent_id, final.status, final.history)
        for n in seen:
            assert done[n].wait(120), f"the watch on {n} did not end"
            for intent_id in ids[:6]:
                versions = [v for v, _ in seen[n][intent_id]]
                assert versions == list(range(versions[0], versions[0] + len(versions))), \
                    (n, intent_id, seen[n][intent_id])
                assert seen[n][intent_id][-1][1] is S.SETTLED

        # Nothing twice, counted on the chain: one Settled per order, one top-up per need.
        settled = _settled_per_order(w3a, a_chain.contracts.settler)
        assert {i: settled.get(i, 0) for i in ids} == {i: 1 for i in ids}
        wait_until(lambda: w3a.eth.get_balance(funded) >= Web3.to_wei(2, "ether"),
                   timeout=30, what="the second top-up (by the new holder)")
        time.sleep(2)   # longer than the cooldown and two polls: a double would land now
        assert _transfers(w3a, treasury, funded) == 2
        assert w3a.eth.get_balance(funded) == Web3.to_wei(2, "ether")   # 0.5 + 1.5, once
    except BaseException:
        for name, proc in cluster.procs.items():   # what each node said, for the failure
            print(f"---- {name}\n" + "".join(proc.raw[-60:]))
        raise
    finally:
        if solver is not None:
            solver.stop()
        cluster.stop_all()


def _settled_per_order(w3, settler: str) -> dict[str, int]:
    from protocol import abi
    contract = w3.eth.contract(address=settler, abi=abi("OrbitalSettler"))
    counts: dict[str, int] = defaultdict(int)
    for log in contract.events.Settled().get_logs(from_block=0):
        counts["0x" + log["args"]["orderId"].hex().removeprefix("0x")] += 1
    return dict(counts)


def _transfers(w3, source: str, to: str) -> int:
    n = 0
    for number in range(w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == source and tx["to"] == to and tx["value"] > 0:
                n += 1
    return n


def test_sigterm_hands_every_lease_over_before_it_would_expire(tmp_path, devnet_info,
                                                               cluster_db):
    """With a 60 s lease TTL, a SIGTERM to the node holding every singleton moves all of its
    leases to the other node within seconds: released at the graceful stop, not expired."""
    cluster = Cluster(tmp_path, devnet_info, cluster_db, Account.create().address,
                      lease_ttl=60)
    try:
        cluster.start("node-a")
        singletons = {"book", "attester:devnet-a", "attester:devnet-b", "funding:gas",
                      "chain:devnet-a", "chain:devnet-b"}
        wait_until(lambda: singletons <= {k for k, v in cluster.holders().items()
                                           if v == "node-a"},
                   timeout=30, what="node-a holds every singleton")
        held = {k for k, v in cluster.holders().items() if v == "node-a"}
        cluster.start("node-b")
        assert cluster.procs["node-a"].stop() == 0
        wait_until(lambda: held <= {k for k, v in cluster.holders().items() if v == "node-b"},
                   timeout=15, what="node-b holds every lease node-a held (TTL 60 s)")
    finally:
        cluster.stop_all()
