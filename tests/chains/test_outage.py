"""RPC nodes killed mid-backfill: real anvil processes (replicas of the devnet chain,
same blocks and logs), SIGKILLed while the watcher indexes and started again.

The proxy-based outage tests in test_watcher.py cover refusals and a provider's port
going away; these kill the node itself, as a crashed provider would."""

from __future__ import annotations

from actors.chain_watcher import WatcherStatus
from chains.evm.models import ChainCursor

from .conftest import chains_yaml, wait_until
from .test_watcher import PATH, amounts, cursor_at, indexed

N_LOGS, PER_BLOCK = 1500, 30          # 50 dense blocks, indexed one block per range


def _stored_cursor(node) -> int:
    with node.store.connection():
        row = ChainCursor.get_or_none(ChainCursor.chain == "devnet-a")
    return -1 if row is None else row.block_number


def _kill_mid_backfill(node, replica, start: int, head: int) -> int:
    """SIGKILL ``replica`` as soon as the first ranges are committed; the block reached."""
    wait_until(lambda: _stored_cursor(node) >= start, timeout=60, interval=0.002,
               what="backfill under way")
    replica.kill()
    reached = _stored_cursor(node)
    assert reached < head, "the backfill finished before the node was killed"
    return reached


def test_the_active_node_killed_mid_backfill_fails_over_to_the_replica(
        database_url, chain_a, start_node, replicas):
    start = chain_a.head() + 1
    chain_a.deposits(list(range(1, N_LOGS + 1)), per_block=PER_BLOCK)
    head = chain_a.head()
    first, second = replicas(), replicas()
    node, _ = start_node(database_url, chains_yaml(
        "devnet-a", chain_a.info, rpc=[first.url, second.url], start_block=start,
        max_range=1))
    _kill_mid_backfill(node, first, start, head)

    wait_until(lambda: cursor_at(node, head), timeout=60, what="backfill through the replica")
    assert amounts(indexed(node)) == list(range(1, N_LOGS + 1))    # no gap, no duplicate
    st = node.registry.ask(PATH, WatcherStatus())
    assert st["active_rpc"] == second.url
    assert not st["rpc"][0]["healthy"] and st["rpc"][1]["healthy"]


def test_the_only_node_killed_mid_backfill_stops_it_and_it_resumes_when_back(
        database_url, chain_a, start_node, replicas):
    start = chain_a.head() + 1
    chain_a.deposits(list(range(1, N_LOGS + 1)), per_block=PER_BLOCK)
    head = chain_a.head()
    only = replicas()
    node, _ = start_node(database_url, chains_yaml(
        "devnet-a", chain_a.info, rpc=[only.url], start_block=start, max_range=1))
    _kill_mid_backfill(node, only, start, head)

    wait_until(lambda: node.registry.ask(PATH, WatcherStatus())["last_error"],
               what="the outage noticed")
    stalled = _stored_cursor(node)
    assert stalled < head
    got = amounts(indexed(node))                     # what is indexed is a clean prefix
    assert got == list(range(1, len(got) + 1))

    only.up()                                        # the same node again, same port
    wait_until(lambda: cursor_at(node, head), timeout=60, what="resume after the restart")
    assert amounts(indexed(node)) == list(range(1, N_LOGS + 1))
    st = node.registry.ask(PATH, WatcherStatus())
    assert st["last_error"] == "" and st["rpc"][0]["healthy"]
