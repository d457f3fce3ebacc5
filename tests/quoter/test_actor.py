"""The Quoter actor itself on a FakeClock (cache expiry without sleeping), against the devnet;
and the pool math against the deployed pool's own getAmountOut."""

from __future__ import annotations

from actors.quoter import QuoterConfig

import pytest

from actors.quoter import GetPrice, Quoter, QuoterSpec, amount_out
from runtime import ChildSpec, SupervisorSpec
from runtime.config import load_text
from runtime.testing import FakeClock, start_tree

from ._support import make_app, quoter_yaml


@pytest.fixture
def quoter_on_fake_clock(devnet_info, dai, tmp_path):
    cfg = load_text(quoter_yaml(devnet_info, dai, cache_ttl=5), "q.yaml", make_app())
    spec = QuoterSpec(cfg.section("quoter", QuoterConfig), dict(cfg.section("chains", dict)))
    clock = FakeClock(wall_offset=0)
    # wall() of this FakeClock is ~1000 s after the epoch; staleness uses the chain head,
    # which is later, so the feeds are fresh.
    ref, ctx, _ = start_tree(SupervisorSpec(children=(ChildSpec("quoter", Quoter, spec),)),
                             clock=clock)
    yield ctx, clock
    ref.stop()


def weth_feed_a(ctx):
    agg = ctx.registry.ask("quoter", GetPrice("WETH"))
    return {s.name: s for s in agg.sources}["feed:WETH/USD@devnet-a"].price


def test_cache_expires_after_ttl(quoter_on_fake_clock, chains):
    ctx, clock = quoter_on_fake_clock
    a = chains[0]
    assert weth_feed_a(ctx) == 3000
    a.send(a.feeds["WETH/USD"].functions.setAnswer(2990 * 10**8))
    clock.advance(4.9)
    assert weth_feed_a(ctx) == 3000          # still cached
    clock.advance(0.2)
    assert weth_feed_a(ctx) == 2990          # expired: read again


def test_pool_math_matches_the_contract(chains):
    a = chains[0]
    usdc = a.info.contracts.tokens["USDC"].address
    r0, r1 = a.pool.functions.getReserves().call()
    for amount in (1, 10**6, 12_345 * 10**6, 10**13):
        assert amount_out(amount, r0, r1, 30) == a.pool.functions.getAmountOut(amount, usdc).call()
