"""Operators see the cluster: two nodes on one PostgreSQL database list each other
(AdminService/ListNodes, ``orbital nodes``) with the leases each holds; a node that stops
gracefully leaves the list at once.

Node A runs in this process, node B is a real ``orbital run`` process (same admin token) (two nodes in one
process would share the chain watcher's peewee binding, which is per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc

from devnet import free_ports
from orbital.v1 import admin_pb2, admin_pb2_grpc
from tests._node import ADMIN, TOKEN, node_config, write_config
from tests.node.test_process import Proc

from .conftest import chains_yaml, wait_until

ORBITAL = str(Path(sys.executable).with_name("orbital"))


def list_nodes(port: int) -> admin_pb2.ListNodesResponse:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        return admin_pb2_grpc.AdminServiceStub(ch).ListNodes(
            admin_pb2.ListNodesRequest(), metadata=ADMIN, timeout=10)


def holders(reply: admin_pb2.ListNodesResponse, lease: str) -> list[str]:
    return [n.instance for n in reply.nodes if lease in {x.name for x in n.leases}]


def orbital_nodes(port: int, *flags: str) -> str:
    done = subprocess.run([ORBITAL, "nodes", "--address", f"127.0.0.1:{port}", *flags],
                          env={**os.environ, "ORBITAL_ADMIN_TOKEN": TOKEN},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_nodes_list_each_other_and_their_leases(pg_url, chain_a, start_node, tmp_path):
    yaml = chains_yaml("devnet-a", chain_a.info, rpc=[chain_a.info.rpc_url],
                       start_block=chain_a.head() + 1)
    a, _ = start_node(pg_url, yaml, node_name="node-a")
    wait_until(lambda: holders(list_nodes(a.grpc_port), "chain:devnet-a") == [a.instance],
               what="node A to hold the chain's lease")

    port = free_ports(1)[0]
    cfg = write_config(tmp_path / "node-b.yaml", node_config(
        pg_url, tmp_path / "var-b", grpc_port=port,
        name="node-b"), yaml)
    b = Proc(cfg, str(tmp_path))
    try:
        b_started = b.wait_for("node started")
        b_instance = b_started["instance"]
        for asked, this in ((a.grpc_port, a.instance), (port, b_instance)):
            reply = list_nodes(asked)
            assert [n.instance for n in reply.nodes] == [a.instance, b_instance]  # by name
            assert [n.instance for n in reply.nodes if n.this_node] == [this]
            assert holders(reply, "chain:devnet-a") == [a.instance]   # exactly one holds it
            assert reply.seen_within_seconds == 6.0                   # 3 x 2 s default
            na, nb = reply.nodes
            assert (na.name, na.pid, na.grpc_listen) == ("node-a", os.getpid(),
                                                         f"127.0.0.1:{a.grpc_port}")
            assert (nb.name, nb.pid, nb.grpc_listen) == ("node-b", b.p.pid, f"127.0.0.1:{port}")
            assert na.host and nb.host == na.host
            assert na.started_at.seconds <= na.last_seen.seconds
            # B stands by for the chain; its book is the only one (A runs no book): it leads
            assert [x.name for x in nb.leases] == ["book"]

        table = orbital_nodes(a.grpc_port).splitlines()
        assert table[0].split()[:2] == ["INSTANCE", "NAME"]
        row_a = next(line for line in table if a.instance in line)
        row_b = next(line for line in table if b_instance in line)
        assert row_a.startswith("*") and "chain:devnet-a" in row_a
        assert not row_b.startswith("*") and "book" in row_b and "chain:devnet-a" not in row_b
        assert table[-1].startswith("2 node(s) seen within 6 s")
        listed = json.loads(orbital_nodes(port, "--json"))
        assert [(n["instance"], n.get("this_node", False)) for n in listed["nodes"]] == [
            (a.instance, False), (b_instance, True)]
        assert [x["name"] for x in listed["nodes"][0]["leases"]] == ["chain:devnet-a"]
    finally:
        assert b.stop() == 0
    # B stopped gracefully: its row is deleted, long before it would go stale
    reply = list_nodes(a.grpc_port)
    assert [(n.instance, n.this_node) for n in reply.nodes] == [(a.instance, True)]
    assert holders(reply, "chain:devnet-a") == [a.instance]
