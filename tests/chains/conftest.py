"""Chain watcher tests: one isolated devnet (free ports) per session, a real Node per test
with only the chain watcher kind installed, and helpers that emit real events cheaply.

Each test starts its watcher at the chain's current head + 1, so tests sharing the devnet
never see each other's events. Nothing sleeps to synchronise: ``wait_until`` polls with a
deadline that only bounds a failing test.
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from eth_abi import encode as abi_encode
from eth_account import Account
from web3 import Web3

import devnet
from devnet import free_ports
from protocol import GaslessOrder, OrbitalOrder, abi
from node import new_app
from runtime.config import App
from runtime.node import Node
from runtime.testing import MessageRecorder
from tests._evm import DevChain
from tests._node import TestNodes, chains_section, dump
from runtime.testing import wait_until  # noqa: F401 - shared by the test modules here

ONE_USDC = 10**6





@pytest.fixture(scope="session")
def devnet_info(tmp_path_factory):
    state = tmp_path_factory.mktemp("devnet")
    with devnet.running(state, ports=free_ports(2), quiet=True) as info:
        yield info


@dataclass
class Chain(DevChain):
    operator: Any = None
    accounts: Any = None

    def __post_init__(self):
        c = self.info.contracts
        self.bridge = self.w3.eth.contract(address=c.bridge, abi=abi("Bridge"))
        self.settler = self.w3.eth.contract(address=c.settler, abi=abi("OrbitalSettler"))
        self.usdc = c.tokens["USDC"].address

    def deposits(self, amounts: list[int], *, per_block: int | None = None) -> list[str]:
        """BridgeDeposit events (one per amount) from the operator; with ``per_block``,
        many transactions are mined together (automine off, one JSON-RPC batch)."""
        data = [self.bridge.encode_abi("deposit", args=[self.usdc, a, 31338,
                                                         self.operator.address])
                for a in amounts]
        if per_block is None:
            out = []
            for d in data:
                tx = self.w3.eth.send_transaction({"from": self.operator.address,
                                                   "to": self.bridge.address, "data": d,
                                                   "gas": 200_000})
                r = self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)
                assert r["status"] == 1
                out.append(tx.to_0x_hex())
            return out
        url = self.info.rpc_url
        self.rpc("evm_setAutomine", False)
        try:
            hashes = []
            nonce = int(self.rpc("eth_getTransactionCount", self.operator.address, "pending"), 16)
            for i in range(0, len(data), per_block):
                batch = [{"jsonrpc": "2.0", "id": j, "method": "eth_sendTransaction",
                          "params": [{"from": self.operator.address, "to": self.bridge.address,
                                      "data": d, "gas": 200_000, "nonce": hex(nonce + i + j)}]}
                         for j, d in enumerate(data[i:i + per_block])]
                replies = requests.post(url, json=batch, timeout=60).json()
                assert all("result" in r for r in replies), [r for r in replies if "result" not in r][:2]
                hashes += [r["result"] for r in replies]
                self.rpc("evm_mine")
        finally:
            self.rpc("evm_setAutomine", True)
        return hashes

    def open_for(self, user, solver, *, nonce: int, amount: int = 10 * ONE_USDC) -> bytes:
        """A gasless order signed by ``user`` and opened by ``solver``: an Open event."""
        now = self.w3.eth.get_block("latest")["timestamp"]
        swap = OrbitalOrder(self.usdc, amount, self.usdc, amount - ONE_USDC, user.address,
                            31338)
        order = GaslessOrder(origin_settler=self.settler.address, user=user.address,
                             nonce=nonce, origin_chain_id=self.info.chain_id,
                             open_deadline=now + 600, fill_deadline=now + 3600, order=swap)
        sig = bytes(Account.sign_typed_data(user.private_key,
                                            full_message=order.typed_data()).signature)
        tx = self.settler.functions.openFor(order.to_abi(), sig,
                                            abi_encode(["address"], [solver.address])
                                            ).transact({"from": solver.address})
        assert self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)["status"] == 1
        return order.order_id


@pytest.fixture(scope="session")
def chain_a(devnet_info) -> Chain:
    info = devnet_info.chains[0]
    w3 = Web3(Web3.HTTPProvider(info.rpc_url, request_kwargs={"timeout": 30}))
    return Chain("devnet-a", info, w3, devnet_info.account("operator"), devnet_info)



def chains_yaml(name: str, info, *, rpc: list[str], start_block: int, **extra) -> str:
    """The ``chains`` section (YAML text) of one watcher named ``name`` on ``rpc``."""
    opts = {"confirmations": 0, "poll_interval": 0.05, "start_block": start_block,
            "rpc_timeout": 2, "rpc_backoff_max": 0.5, "reorg_window": 64} | extra
    [chain] = chains_section([info], tokens=False, **opts).values()
    return dump({"chains": {name: chain | {"rpc": list(rpc)}}})


@pytest.fixture
def nodes(tmp_path):
    """The test's :class:`TestNodes`: ``start_node`` starts on it, and so does a test whose
    node is not a watcher's (test_commit_order: the book alone)."""
    with TestNodes(tmp_path) as nodes:
        yield nodes


@pytest.fixture
def start_node(nodes):
    """``start(database_url, chains_yaml, book=True, node_name)`` -> (node, the recorder
    standing in for the intent book, or None)."""
    from actors.chain_watcher import install

    def make_app() -> App:
        app = new_app()
        install(app)
        return app

    def start(database_url: str, chains: str, *, book: bool = True,
              node_name: str = "node-1") -> tuple[Node, Any]:
        path = nodes.config(database_url, extra=chains, file=f"supervisor-{len(nodes.nodes)}.yaml",
                            name=node_name, supervision={
                                "chains": {"intensity": 10, "period": 10, "backoff": {"initial": 0}}})
        recorder = nodes.own(MessageRecorder.start()) if book else None
        node = nodes.start(path, make_app, register={"intents/book": recorder} if book else None)
        return node, recorder
    return start


class FlakyProxy:
    """An HTTP JSON-RPC proxy on a fixed port that can be taken down (connection refused)
    and brought back, standing in for an RPC provider's outage."""

    def __init__(self, upstream: str, port: int | None = None):
        self.upstream = upstream
        self.port = port or free_ports(1)[0]
        self.server = None
        self.requests = 0
        self.max_log_blocks: int | None = None   # refuse wider eth_getLogs, like providers
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> FlakyProxy:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.requests += 1
                refusal = proxy.refuse(body)
                if refusal is not None:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(refusal)))
                    self.end_headers()
                    self.wfile.write(refusal)
                    return
                r = requests.post(proxy.upstream, data=body,
                                  headers={"Content-Type": "application/json"}, timeout=30)
                self.send_response(r.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def refuse(self, body: bytes) -> bytes | None:
        if self.max_log_blocks is None:
            return None
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("method") == "eth_getLogs":
            f = doc["params"][0]
            if int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1 > self.max_log_blocks:
                self.refused += 1
                return json.dumps({"jsonrpc": "2.0", "id": doc["id"], "error": {
                    "code": -32005, "message": "query returned more than 10000 results"}
                }).encode()
        return None

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def proxy_factory(chain_a):
    proxies: list[FlakyProxy] = []

    def make() -> FlakyProxy:
        p = FlakyProxy(chain_a.info.rpc_url).up()
        proxies.append(p)
        return p
    yield make
    for p in proxies:
        p.down()


class Replica:
    """A real anvil serving a copy of a devnet chain (its ``anvil_dumpState`` loaded with
    ``--load-state``: same blocks, hashes and logs), on a fixed port, that a test can kill
    (SIGKILL, the node's process group) and start again from the same state."""

    def __init__(self, source: Chain, state_dir):
        import gzip
        from pathlib import Path
        dumped = bytes.fromhex(source.rpc("anvil_dumpState")[2:])
        try:
            dumped = gzip.decompress(dumped)
        except OSError:
            pass                                    # an uncompressed dump
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state = self.dir / "state.json"
        self.state.write_bytes(dumped)
        self.chain_id = source.info.chain_id
        self.port = free_ports(1)[0]
        self.pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> Replica:
        from devnet.anvil import spawn, wait_ready
        from devnet.rpc import Rpc
        log = self.dir / "anvil.log"
        self.pid = spawn("127.0.0.1", self.port, self.chain_id, log, quiet=True,
                         extra=("--load-state", str(self.state)))
        wait_ready(self.pid, Rpc(self.url), self.chain_id, log, timeout=30)
        return self

    def kill(self) -> None:
        import os
        import signal
        from devnet.anvil import is_alive, terminate
        if self.pid is None:
            return
        os.killpg(self.pid, signal.SIGKILL)         # no shutdown: the node just vanishes
        wait_until(lambda: not is_alive(self.pid), timeout=10, what="anvil gone")
        terminate(self.pid)                         # reaps the child
        self.pid = None


@pytest.fixture
def replicas(chain_a, tmp_path):
    made: list[Replica] = []

    def make() -> Replica:
        r = Replica(chain_a, tmp_path / f"replica-{len(made)}").up()
        made.append(r)
        return r
    yield make
    for r in made:
        r.kill()
