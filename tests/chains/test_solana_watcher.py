"""The Solana chain watcher against a real solana-local (LiteSVM RPC, in-process on a free
port): it follows the slot at its commitment into ``solana_cursor``, ListChains shows it
(kind, slots, lag, active RPC), it survives the RPC going down and coming back on the
same port, and fails over past a dead first URL. SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import threading

import grpc
import pytest

from actors.chain_watcher import WatcherStatus
from chains.solana import SolanaCursor
from devnet import free_ports
from devnet.solana_rpc import SolanaRpcServer
from orbital.v1 import chain_pb2, chain_pb2_grpc
from node.cli import main
from tests._node import dump

from .conftest import wait_until

PATH = "chains/watcher/sol"
MINT = "444YucPLqi6FUoEiUw7Dveb3RDfZzPAazdJSATSAkfcT"


class _Server(SolanaRpcServer):
    """Remembers its connections, so that going down drops them as a killed process
    would (a keep-alive connection would otherwise outlive ``server_close``)."""

    def get_request(self):
        conn, addr = super().get_request()
        self.conns = [*getattr(self, "conns", []), conn]
        return conn, addr

    def kill(self) -> None:
        self.shutdown()
        self.server_close()
        for conn in getattr(self, "conns", []):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


class SolanaLocal:
    """solana-local on a fixed port that can be stopped and started again; the chain
    (ledger) is kept across, as a restarted validator keeps its ledger."""

    def __init__(self) -> None:
        self.port = free_ports(1)[0]
        self.server: _Server | None = None
        self.chain = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> SolanaLocal:
        self.server = _Server("127.0.0.1", self.port, self.chain, slot_ms=20)
        self.chain = self.server.chain
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server = None

    @property
    def slot(self) -> int:
        return self.chain.slot


@pytest.fixture
def solana_local():
    s = SolanaLocal().up()
    yield s
    s.down()


def _yaml(rpc: list[str], **extra) -> str:
    chain = {"kind": "solana", "rpc": rpc, "commitment": "confirmed", "poll_interval": 0.05,
             "rpc_timeout": 2, "rpc_backoff_max": 0.2,
             "tokens": {"USDC": {"mint": MINT, "decimals": 6}}} | extra
    return dump({"chains": {"sol": chain}})


def _status(node) -> dict:
    return node.registry.ask(PATH, WatcherStatus(), timeout=5)


def _stored(node) -> int:
    with node.store.connection():
        row = SolanaCursor.get_or_none(SolanaCursor.chain == "sol")
    return -1 if row is None else row.slot


def _restarts(node) -> int:
    return {a.path: a for a in node.describe()}[PATH].restarts


def _list_chains(node) -> list:
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
        return list(chain_pb2_grpc.ChainServiceStub(ch)
                    .ListChains(chain_pb2.ListChainsRequest(), timeout=5).chains)


def test_the_watcher_follows_the_slot_and_list_chains_shows_it(database_url, start_node,
                                                              solana_local, capsys):
    node, _ = start_node(database_url, _yaml([solana_local.url], start_slot=1), book=False)
    past = solana_local.slot + 5
    wait_until(lambda: _stored(node) >= past, what="cursor past a later slot")
    st = _status(node)
    assert st["kind"] == "solana" and st["standby"] is False and st["last_error"] == ""
    assert st["active_rpc"] == solana_local.url
    [info] = _list_chains(node)
    assert (info.name, info.kind, info.commitment, info.running) == \
        ("sol", "solana", "confirmed", True)
    assert info.chain_id == 0 and info.active_rpc == solana_local.url
    assert info.indexed_block >= past and info.confirmed_block >= info.indexed_block
    assert info.head >= info.confirmed_block
    assert info.lag == info.confirmed_block - info.indexed_block
    with node.store.connection():
        row = SolanaCursor.get(SolanaCursor.chain == "sol")
    assert row.commitment == "confirmed" and row.head >= row.slot
    assert node.store.lease_holder("chain:sol") is not None   # the chain's lease, taken
    assert main(["chains", "--address", f"127.0.0.1:{node.grpc_port}"]) == 0   # orbital chains
    out = capsys.readouterr().out
    [row] = [line.split() for line in out.splitlines() if line.startswith("sol ")]
    assert row[1] == "solana/confirmed" and row[8] == solana_local.url and row[9] == "running"


def test_restart_resumes_from_the_stored_cursor(database_url, start_node, nodes, solana_local):
    node, _ = start_node(database_url, _yaml([solana_local.url]), book=False)
    wait_until(lambda: _stored(node) > 0, what="first commit")
    stopped_at = _stored(node)                          # at least this much is committed
    node = nodes.restart(node)
    assert _status(node)["indexed"] >= stopped_at       # from the store, not from scratch
    wait_until(lambda: _stored(node) > stopped_at, what="moving on after the restart")


def test_solana_local_down_and_back_on_the_same_port(database_url, start_node, solana_local):
    node, _ = start_node(database_url, _yaml([solana_local.url]), book=False)
    wait_until(lambda: _stored(node) > 0, what="first commit")
    solana_local.down()
    wait_until(lambda: "no RPC endpoint answered" in _status(node)["last_error"],
               what="the outage reported")
    stalled = _stored(node)
    [info] = _list_chains(node)
    assert info.running and "no RPC endpoint answered" in info.last_error
    assert not info.rpc[0].healthy
    restarts = _restarts(node)
    solana_local.up()                                   # same port, same ledger
    wait_until(lambda: _stored(node) > stalled and _status(node)["last_error"] == "",
               what="resumed after solana-local came back")
    assert _restarts(node) == restarts  # an answer, not a crash
    assert _status(node)["rpc"][0]["healthy"]


def test_a_dead_first_url_fails_over_to_the_second(database_url, start_node, solana_local):
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    node, _ = start_node(database_url, _yaml([dead, solana_local.url]), book=False)
    past = solana_local.slot + 3
    wait_until(lambda: _stored(node) >= past, what="following through the second URL")
    st = _status(node)
    assert st["active_rpc"] == solana_local.url and st["last_error"] == ""
    assert not st["rpc"][0]["healthy"] and st["rpc"][1]["healthy"]
    [info] = _list_chains(node)
    assert info.active_rpc == solana_local.url


def test_two_nodes_one_database_one_follows_the_other_stands_by(pg_url, start_node, nodes,
                                                               solana_local):
    """PostgreSQL only: SQLite serves one node."""
    first, _ = start_node(pg_url, _yaml([solana_local.url]), book=False, node_name="n1")
    wait_until(lambda: _stored(first) > 0, what="the first node following")
    second, _ = start_node(pg_url, _yaml([solana_local.url]), book=False, node_name="n2")
    wait_until(lambda: _status(second)["standby"], what="the second node standing by")
    assert not _status(first)["standby"]
    nodes.stop(first)                                 # releases chain:sol at shutdown
    moved_from = _stored(second)
    wait_until(lambda: not _status(second)["standby"] and _stored(second) > moved_from,
               what="the second node taking over")
