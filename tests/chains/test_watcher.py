"""The chain watcher on a real devnet (anvil) and a real Node, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import grpc
import pytest

from actors.chain_watcher import ChainEventsCommitted, ChainReorged, WatcherStatus
from chains.evm.models import ChainCursor, ChainEvent, ChainReorg
from orbital.v1 import chain_pb2, chain_pb2_grpc

from .conftest import chains_yaml, wait_until

PATH = "chains/watcher/devnet-a"


def indexed(node) -> list[ChainEvent]:
    with node.store.connection():
        return list(ChainEvent.select().order_by(ChainEvent.block_number, ChainEvent.log_index))


def cursor_at(node, block: int) -> bool:
    try:
        return node.registry.ask(PATH, WatcherStatus(), timeout=5)["indexed"] >= block
    except Exception:  # noqa: BLE001 - restarting: not yet
        return False


def amounts(events) -> list[int]:
    return [int(json.loads(e.args)["amount"]) for e in events if e.name == "BridgeDeposit"]


def stub(node):
    return chain_pb2_grpc.ChainServiceStub(grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}"))


def test_indexes_real_events_and_serves_them(database_url, chain_a, start_node, devnet_info):
    start = chain_a.head() + 1
    node, book = start_node(database_url, chains_yaml("devnet-a", chain_a.info,
                                                      rpc=[chain_a.info.rpc_url],
                                                      start_block=start))
    chain_a.deposits([101, 202, 303])
    users = [a for a in devnet_info.accounts if "user" in a.roles]
    oid = chain_a.open_for(users[0], devnet_info.account("solver"), nonce=start)
    head = chain_a.head()
    wait_until(lambda: cursor_at(node, head), what="watcher to reach the head")

    events = indexed(node)
    assert [e.name for e in events] == ["BridgeDeposit"] * 3 + ["Open"]
    assert amounts(events) == [101, 202, 303]
    opened = events[-1]
    assert opened.order_id == "0x" + oid.hex()
    args = json.loads(opened.args)
    assert args["orderId"] == "0x" + oid.hex()
    assert args["resolvedOrder"][1] == str(chain_a.info.chain_id)   # uint256 as a string
    assert all(e.block_number >= start for e in events)

    seen = wait_until(lambda: [m for m in book.ask("seen")
                               if isinstance(m, ChainEventsCommitted)], what="book notified")
    assert sum(m.count for m in seen) == 4
    assert seen[0].from_block == start and seen[-1].to_block >= head

    s = stub(node)
    chains = s.ListChains(chain_pb2.ListChainsRequest()).chains
    assert [c.name for c in chains] == ["devnet-a"]
    c = chains[0]
    assert c.chain_id == 31337 and c.running and c.head >= head and c.indexed_block >= head
    assert c.active_rpc == chain_a.info.rpc_url and c.rpc[0].healthy

    # Paging: stable tokens, every event once, in order.
    got, token = [], ""
    while True:
        page = s.ListEvents(chain_pb2.ListEventsRequest(chain="devnet-a", page_size=3,
                                                        page_token=token))
        got += page.events
        token = page.next_page_token
        if not token:
            break
    assert [(e.block_number, e.log_index) for e in got] == \
        [(e.block_number, e.log_index) for e in events]
    only = s.ListEvents(chain_pb2.ListEventsRequest(chain="31337", order_id="0x" + oid.hex()))
    assert [e.name for e in only.events] == ["Open"]
    by_name = s.ListEvents(chain_pb2.ListEventsRequest(name="BridgeDeposit",
                                                       from_block=events[1].block_number))
    assert len(by_name.events) == 2

    for bad in (chain_pb2.ListEventsRequest(page_token="not-a-token"),
                chain_pb2.ListEventsRequest(page_size=1001),
                chain_pb2.ListEventsRequest(order_id="0x12"),
                chain_pb2.ListEventsRequest(chain="nowhere"),
                chain_pb2.ListEventsRequest(from_block=10, to_block=5)):
        with pytest.raises(grpc.RpcError) as exc:
            s.ListEvents(bad)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    first = s.ListEvents(chain_pb2.ListEventsRequest(page_size=1))
    with pytest.raises(grpc.RpcError) as exc:   # a token is bound to its filters
        s.ListEvents(chain_pb2.ListEventsRequest(page_size=1, name="Open",
                                                 page_token=first.next_page_token))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_resumes_after_restart_and_new_node_without_gap_or_duplicate(
        database_url, chain_a, start_node):
    start = chain_a.head() + 1
    yaml = chains_yaml("devnet-a", chain_a.info, rpc=[chain_a.info.rpc_url], start_block=start)
    node, _ = start_node(database_url, yaml)
    chain_a.deposits([1, 2])
    wait_until(lambda: cursor_at(node, chain_a.head()), what="first batch")
    node.restart_actor(PATH)                      # the supervisor restarts it from the store
    chain_a.deposits([3, 4])
    wait_until(lambda: cursor_at(node, chain_a.head()), what="after restart")
    node.shutdown()
    chain_a.deposits([5, 6])                       # emitted while no node runs
    node2, _ = start_node(database_url, yaml)
    chain_a.deposits([7])
    wait_until(lambda: cursor_at(node2, chain_a.head()), what="second node")
    events = indexed(node2)
    assert amounts(events) == [1, 2, 3, 4, 5, 6, 7]
    assert len({(e.block_hash, e.log_index) for e in events}) == 7


def test_reorg_removes_events_above_the_fork_and_indexes_the_new_branch(chain_a, start_node,
                                                                         tmp_path):
    start = chain_a.head() + 1
    node, book = start_node(f"sqlite:///{tmp_path}/o.db", chains_yaml(
        "devnet-a", chain_a.info, rpc=[chain_a.info.rpc_url], start_block=start))
    chain_a.deposits([10])
    fork = chain_a.head()
    snap = chain_a.rpc("evm_snapshot")
    chain_a.deposits([11, 12])
    wait_until(lambda: cursor_at(node, chain_a.head()), what="old branch indexed")
    assert amounts(indexed(node)) == [10, 11, 12]
    old_head = chain_a.head()

    assert chain_a.rpc("evm_revert", snap)
    chain_a.deposits([21, 22, 23])                   # the new branch is longer: 3 blocks
    assert chain_a.head() > old_head
    wait_until(lambda: amounts(indexed(node)) == [10, 21, 22, 23], what="new branch indexed")
    with node.store.connection():
        reorgs = list(ChainReorg.select())
    assert len(reorgs) == 1 and reorgs[0].fork_block == fork and reorgs[0].removed_events == 2
    told = wait_until(lambda: [m for m in book.ask("seen") if isinstance(m, ChainReorged)],
                      what="book told of the reorg")
    assert told[0].fork_block == fork and told[0].removed_events == 2


def test_failover_to_the_second_url_and_outage_never_skips_a_block(chain_a, start_node,
                                                                    proxy_factory, tmp_path):
    from devnet import free_ports
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    proxy = proxy_factory()
    start = chain_a.head() + 1
    node, _ = start_node(f"sqlite:///{tmp_path}/o.db", chains_yaml(
        "devnet-a", chain_a.info, rpc=[dead, proxy.url], start_block=start))
    chain_a.deposits([1, 2])
    wait_until(lambda: cursor_at(node, chain_a.head()), what="indexing through the 2nd URL")
    st = node.registry.ask(PATH, WatcherStatus())
    assert st["active_rpc"] == proxy.url
    assert not st["rpc"][0]["healthy"] and st["rpc"][1]["healthy"]

    proxy.down()                                   # total outage: no URL answers
    chain_a.deposits([3, 4, 5])
    wait_until(lambda: not node.registry.ask(PATH, WatcherStatus())["rpc"][1]["healthy"],
               what="outage noticed")
    assert amounts(indexed(node)) == [1, 2]
    proxy.up()                                     # the provider comes back on its port
    chain_a.deposits([6])
    wait_until(lambda: cursor_at(node, chain_a.head()), what="resume after the outage")
    events = indexed(node)
    assert amounts(events) == [1, 2, 3, 4, 5, 6]
    assert node.registry.ask(PATH, WatcherStatus())["last_error"] == ""


def test_backfill_of_thousands_of_logs_with_range_splitting(chain_a, start_node,
                                                             proxy_factory, tmp_path):
    start = chain_a.head() + 1
    n = 10_000
    chain_a.deposits(list(range(1, n + 1)), per_block=500)   # 20 blocks, before the node
    chain_a.mine(20)
    proxy = proxy_factory()
    proxy.max_log_blocks = 3                      # the provider refuses wider getLogs
    node, book = start_node(f"sqlite:///{tmp_path}/o.db", chains_yaml(
        "devnet-a", chain_a.info, rpc=[proxy.url], start_block=start, max_range=64))
    started = time.perf_counter()
    wait_until(lambda: cursor_at(node, chain_a.head()), timeout=60, what="backfill")
    print(f"backfill: {n} logs in {time.perf_counter() - started:.2f}s")
    events = indexed(node)
    assert amounts(events) == list(range(1, n + 1))
    assert proxy.refused > 0                       # the range did split
    assert sum(m.count for m in book.ask("seen")) == n


def test_crash_mid_commit_rolls_back_and_resumes_without_gap_or_duplicate(
        database_url, chain_a, start_node, monkeypatch):
    """The cursor write fails after the events were inserted in the same transaction: the
    watcher crashes, the transaction rolls back whole, the restarted watcher re-indexes."""
    real = ChainCursor.insert.__func__
    crashes = []

    def failing_insert(cls, *a, **kw):
        if not crashes:
            crashes.append(1)
            raise RuntimeError("injected crash between the event insert and the cursor")
        return real(cls, *a, **kw)
    monkeypatch.setattr(ChainCursor, "insert", classmethod(failing_insert))
    start = chain_a.head() + 1
    chain_a.deposits([1, 2, 3])
    node, _ = start_node(database_url, chains_yaml(
        "devnet-a", chain_a.info, rpc=[chain_a.info.rpc_url], start_block=start))
    chain_a.deposits([4])
    wait_until(lambda: cursor_at(node, chain_a.head()), what="indexing after the crash")
    assert crashes == [1]
    info = next(a for a in node.describe() if a.path == PATH)
    assert info.restarts >= 1 and "injected crash" in info.last_error
    events = indexed(node)
    assert amounts(events) == [1, 2, 3, 4]


def test_confirmations_hold_back_the_unconfirmed_blocks(chain_a, start_node, tmp_path):
    start = chain_a.head() + 1
    node, _ = start_node(f"sqlite:///{tmp_path}/o.db", chains_yaml(
        "devnet-a", chain_a.info, rpc=[chain_a.info.rpc_url], start_block=start,
        confirmations=3))
    chain_a.deposits([1])
    snap = chain_a.rpc("evm_snapshot")
    chain_a.deposits([2])                                    # not yet confirmed
    target = chain_a.head() - 3
    wait_until(lambda: node.registry.ask(PATH, WatcherStatus())["head"] == chain_a.head(),
               what="head seen")
    st = node.registry.ask(PATH, WatcherStatus())
    assert st["confirmed"] == target and st["indexed"] <= max(target, start - 1)
    assert chain_a.rpc("evm_revert", snap)                  # a reorg above the confirmed block
    chain_a.deposits([3])
    chain_a.mine(3)
    wait_until(lambda: cursor_at(node, chain_a.head() - 3), what="confirmed blocks indexed")
    assert amounts(indexed(node)) == [1, 3]
    with node.store.connection():
        assert ChainReorg.select().count() == 0             # never saw the orphaned block


def test_list_chains_from_the_store_when_the_watcher_is_stopped(chain_a, start_node, tmp_path):
    start = chain_a.head() + 1
    node, _ = start_node(f"sqlite:///{tmp_path}/o.db", chains_yaml(
        "devnet-a", chain_a.info, rpc=[chain_a.info.rpc_url], start_block=start))
    chain_a.deposits([1])
    head = chain_a.head()
    wait_until(lambda: cursor_at(node, head), what="indexed")
    node.stop_actor(PATH)
    [c] = stub(node).ListChains(chain_pb2.ListChainsRequest()).chains
    assert not c.running and c.indexed_block >= head and c.head >= head


@pytest.mark.parametrize("body, error", [
    ("    rpc: []\n", "at least one URL"),
    ("    rpc: [ftp://x]\n", r"rpc\[0\]"),
    ("    rpc: [http://127.0.0.1:1]\n    min_range: 10\n    max_range: 5\n", "min_range"),
    ("    rpc: [http://127.0.0.1:1]\n    confirmatons: 1\n", "unknown key"),
])
def test_config_errors_name_the_key(body, error):
    from actors.chain_watcher import install
    from runtime import ConfigError
    from node import new_app
    from runtime.config import load_text
    app = new_app()
    install(app)
    text = ("chains:\n  devnet-a:\n    chain_id: 31337\n"
            "    contracts: {settler: '0x" + "11" * 20 + "'}\n" + body)
    with pytest.raises(ConfigError, match=error):
        load_text(text, "supervisor.yaml", app)


def test_block_hashes_below_the_reorg_window_are_pruned(database_url, chain_a, start_node):
    """The reorg window's block hashes are kept and older ones pruned (every quarter
    window, not per commit): what the fork search needs, and no more."""
    from chains.evm.models import ChainBlock
    start = chain_a.head() + 1
    for _ in range(6):
        chain_a.deposits([7])
        chain_a.mine(5)
    node, _ = start_node(database_url, chains_yaml("devnet-a", chain_a.info,
                                                   rpc=[chain_a.info.rpc_url],
                                                   start_block=start, reorg_window=8,
                                                   max_range=4))
    head = chain_a.head()
    wait_until(lambda: cursor_at(node, head), what="watcher to reach the head")
    with node.store.connection():
        stored = sorted(b.number for b in ChainBlock.select(ChainBlock.number))
    events = indexed(node)
    assert len(amounts(events)) == 6
    assert head in stored                           # the cursor block chains the next range
    assert stored[0] >= head - 8 - 8 // 4           # the window and at most a quarter more
    recent = {e.block_number for e in events if e.block_number > head - 8}
    assert recent and recent <= set(stored)         # every block with events in the window


def test_rpc_url_credentials_never_reach_replies_or_logs(chain_a, start_node, tmp_path, caplog):
    """Provider keys live in RPC URLs (userinfo, path, query): ListChains shows scheme, host
    and port only, and every log line and last_error has them masked. The first URL is a
    dead one (connection refused) so that an error naming it is logged and kept."""
    from runtime import JsonFormatter
    port = chain_a.info.rpc_url.rsplit(":", 1)[1]
    dead = "http://alice:pass-0123456789@127.0.0.1:1/v2/key-abcdef012345?apikey=q-987654321"
    live = f"http://bob:pw-9876543210@127.0.0.1:{port}/?token=t-1234567"   # anvil: root path only
    node, _ = start_node(f"sqlite:///{tmp_path}/o.db", chains_yaml(
        "devnet-a", chain_a.info, rpc=[dead, live], start_block=chain_a.head() + 1))
    chain_a.deposits([1])
    wait_until(lambda: cursor_at(node, chain_a.head()), what="indexed through the second URL")
    [c] = stub(node).ListChains(chain_pb2.ListChainsRequest()).chains
    assert [e.url for e in c.rpc] == ["http://127.0.0.1:1/***", f"http://127.0.0.1:{port}/***"]
    assert any("connection refused" in e.last_error for e in c.rpc)
    assert c.active_rpc.endswith("/***")
    shown = str(c) + "".join(JsonFormatter().format(r) for r in caplog.records)
    assert "127.0.0.1:1" in shown
    for secret in ("pass-0123456789", "key-abcdef012345", "q-987654321", "pw-9876543210",
                   "t-1234567", "alice:", "bob:"):
        assert secret not in shown, secret
