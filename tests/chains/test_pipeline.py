"""The watcher's fetch thread (chains/evm/pipeline.py) on a real devnet (anvil)."""

from __future__ import annotations

import pytest

from actors.chain_watcher import WatcherStatus
from chains.evm import RpcClient
from chains.evm import event_rows
from chains.evm.pipeline import RangeFetcher
from protocol.events import EVENTS_BY_TOPIC

from .conftest import chains_yaml, wait_until
from .test_watcher import PATH, amounts, cursor_at, indexed


@pytest.fixture
def fetcher(chain_a):
    rpc = RpcClient([chain_a.info.rpc_url])
    c = chain_a.info.contracts
    f = RangeFetcher(rpc, [c.settler.lower(), c.bridge.lower()],
                     [sorted(EVENTS_BY_TOPIC)], "test")
    yield f
    f.close()
    rpc.close()


def test_a_prefetched_range_is_taken_only_if_it_starts_at_the_cursor(chain_a, fetcher):
    chain_a.deposits([1, 2])
    lo = chain_a.head() - 1
    chain_a.deposits([3])
    hi = chain_a.head()
    fetcher.prefetch(lo, hi, lo - 1)
    other = fetcher.take(lo + 1, hi, lo)           # not the prefetched one: fetched now
    assert fetcher.prefetched == 0 and other.lo == lo + 1 and other.error is None
    fetcher.prefetch(lo, hi, lo - 1)
    got = fetcher.take(lo, hi, lo - 1)
    assert fetcher.prefetched == 1
    assert got.error is None and (got.lo, got.hi) == (lo, hi)
    logs = got.logs()
    assert [int(lg.blockNumber, 16) for lg in logs][-1] == hi
    got.check(event_rows("test", logs))
    assert set(got.hashes) == set(got.blocks()) | {lo - 1} and hi in got.blocks()
    for n in got.blocks():   # the hashes taken from the logs are the chain's
        assert got.hashes[n] == chain_a.rpc("eth_getBlockByNumber", hex(n), False)["hash"]


def test_the_parent_hash_of_a_prefetch_shows_a_reorg_of_the_cursor_block(chain_a, fetcher):
    """The actor compares ``hashes[cursor]`` with the hash it committed: after a reorg of
    the cursor block the fetch reports the new hash, so the prefetch is not used."""
    chain_a.deposits([1])
    snap = chain_a.rpc("evm_snapshot")
    chain_a.deposits([2])
    cursor = chain_a.head()
    committed = chain_a.rpc("eth_getBlockByNumber", hex(cursor), False)["hash"]
    assert chain_a.rpc("evm_revert", snap)
    chain_a.deposits([3, 4])                       # a new branch over the cursor block
    fetcher.prefetch(cursor + 1, chain_a.head(), cursor)
    got = fetcher.take(cursor + 1, chain_a.head(), cursor)
    assert got.error is None and got.hashes[cursor] != committed


def test_rpc_errors_come_back_as_values_and_never_move_anything(fetcher):
    dead = RangeFetcher(RpcClient(["http://127.0.0.1:1"], timeout=0.5), fetcher.addresses,
                        fetcher.topics, "dead")
    try:
        got = dead.take(1, 10, None)
        assert got.error is not None and got.body == b"" and got.hi == 0
    finally:
        dead.close()


def test_dense_backfill_overlaps_ranges_without_gap_or_duplicate(database_url, chain_a,
                                                                  start_node):
    start = chain_a.head() + 1
    n = 3000
    chain_a.deposits(list(range(1, n + 1)), per_block=300)      # 10 dense blocks
    node, book = start_node(database_url, chains_yaml(
        "devnet-a", chain_a.info, rpc=[chain_a.info.rpc_url], start_block=start))
    wait_until(lambda: cursor_at(node, chain_a.head()), timeout=60, what="backfill")
    events = indexed(node)
    assert amounts(events) == list(range(1, n + 1))
    st = node.registry.ask(PATH, WatcherStatus())
    assert st["prefetched"] >= 2                  # later ranges came from the fetch thread
    seen = book.ask("seen")
    assert sum(m.count for m in seen) == n
    assert [m.from_block for m in seen][0] == start
    assert all(a.to_block + 1 == b.from_block for a, b in zip(seen, seen[1:]))
