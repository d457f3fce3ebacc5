"""Nodes sharing one PostgreSQL database split the chains: one watcher per chain indexes (it
holds the lease chain:<name>), the others stand by and take over when it stops. A lease is
held by a node instance (name plus a per-process suffix), so two nodes left on one name
exclude each other just as well. (SQLite serves one node: tests/node/test_single_node.py.)

The second node is a real ``orbital run`` process (two nodes in one process would share the
store's peewee binding, which is per process)."""

from __future__ import annotations

import grpc
import pytest

from actors.chain_watcher import WatcherStatus
from devnet import free_ports
from orbital.v1 import chain_pb2, chain_pb2_grpc
from runtime.store import Lease
from tests._node import node_config, write_config
from tests.node.test_process import Proc

from .conftest import chains_yaml, wait_until
from .test_watcher import PATH, amounts, cursor_at, indexed


def lease_owner(node) -> str:
    with node.store.connection():
        return Lease.get_by_id("chain:devnet-a").owner


# two names, and one name (the longest a config allows) left the same on both nodes
@pytest.mark.parametrize("names", [("node-a", "node-b"), ("n" * 64, "n" * 64)],
                         ids=["two-names", "one-name"])
def test_two_nodes_on_one_database_index_each_chain_once(pg_url, chain_a, start_node, tmp_path,
                                                         names):
    start = chain_a.head() + 1
    yaml = chains_yaml("devnet-a", chain_a.info, rpc=[chain_a.info.rpc_url], start_block=start,
                       lease_ttl=2)
    a, _ = start_node(pg_url, yaml, node_name=names[0])
    chain_a.deposits([1, 2])
    wait_until(lambda: cursor_at(a, chain_a.head()), what="node A to index")
    assert a.registry.ask(PATH, WatcherStatus())["standby"] is False

    port = free_ports(1)[0]
    cfg = write_config(tmp_path / "node-b.yaml", node_config(
        pg_url, tmp_path / "var-b", token=None, grpc_port=port, name=names[1]), yaml)
    b = Proc(cfg, str(tmp_path))
    try:
        b_instance = b.wait_for("node started")["instance"]
        assert b_instance.startswith(f"{names[1]}-") and b_instance != a.instance
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            chains = chain_pb2_grpc.ChainServiceStub(ch)

            def b_status():
                [info] = chains.ListChains(chain_pb2.ListChainsRequest(), timeout=5).chains
                return info
            wait_until(lambda: b_status().running, what="node B's watcher")
            chain_a.deposits([3])
            wait_until(lambda: cursor_at(a, chain_a.head()), what="node A to keep indexing")
            assert b_status().standby, "node B must stand by while node A holds the lease"
            assert lease_owner(a) == a.instance

            a.shutdown()                           # releases the lease: B takes over
            chain_a.deposits([4, 5])
            head = chain_a.head()
            wait_until(lambda: b_status().indexed_block >= head and not b_status().standby,
                       what="node B to take over")
            assert lease_owner(a) == b_instance
    finally:
        b.stop()
    node, _ = start_node(pg_url, yaml, node_name="node-c")
    events = indexed(node)
    assert amounts(events) == [1, 2, 3, 4, 5]
    assert len({(e.block_hash, e.log_index) for e in events}) == 5
