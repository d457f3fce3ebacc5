"""Nodes sharing one database split the chains: one watcher per chain indexes (it holds the
lease chain:<name>), the others stand by and take over when it stops.

The second node is a real ``orbital run`` process (two nodes in one process would share the
store's peewee binding, which is per process)."""

from __future__ import annotations

import grpc

from actors.chain_watcher import WatcherStatus
from devnet import free_ports
from orbital.v1 import chain_pb2, chain_pb2_grpc
from tests._node import node_config, write_config
from tests.node.test_process import Proc

from .conftest import chains_yaml, wait_until
from .test_watcher import PATH, amounts, cursor_at, indexed


def test_two_nodes_on_one_database_index_each_chain_once(database_url, chain_a, start_node, tmp_path):
    start = chain_a.head() + 1
    yaml = chains_yaml("devnet-a", chain_a.info, rpc=[chain_a.info.rpc_url], start_block=start,
                       lease_ttl=2)
    a, _ = start_node(database_url, yaml, node_name="node-a")
    chain_a.deposits([1, 2])
    wait_until(lambda: cursor_at(a, chain_a.head()), what="node A to index")
    assert a.registry.ask(PATH, WatcherStatus())["standby"] is False

    port = free_ports(1)[0]
    cfg = write_config(tmp_path / "node-b.yaml", node_config(
        database_url, tmp_path / "var-b", token=None, grpc_port=port, name="node-b"), yaml)
    b = Proc(cfg, str(tmp_path))
    try:
        b.wait_for("node started")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            chains = chain_pb2_grpc.ChainServiceStub(ch)

            def b_status():
                [info] = chains.ListChains(chain_pb2.ListChainsRequest(), timeout=5).chains
                return info
            wait_until(lambda: b_status().running, what="node B's watcher")
            chain_a.deposits([3])
            wait_until(lambda: cursor_at(a, chain_a.head()), what="node A to keep indexing")
            assert b_status().standby, "node B must stand by while node A holds the lease"

            a.shutdown()                           # releases the lease: B takes over
            chain_a.deposits([4, 5])
            head = chain_a.head()
            wait_until(lambda: b_status().indexed_block >= head and not b_status().standby,
                       what="node B to take over")
    finally:
        b.stop()
    node, _ = start_node(database_url, yaml, node_name="node-c")
    events = indexed(node)
    assert amounts(events) == [1, 2, 3, 4, 5]
    assert len({(e.block_hash, e.log_index) for e in events}) == 5
