"""The quoter's pure pieces, no chain: aggregation, pool math, routes, gas, parsing, config."""

from __future__ import annotations

from actors.quoter import QuoterConfig

from decimal import Decimal

import pytest

from actors import quoter
from actors.quoter import (Edge, GasConfig, Reading, aggregate, amount_out, best_route,
                           estimate_from_history, fmt_decimal, price_ratio_out, wei_to_token)
from actors.quoter._quote import parse_address, parse_amount
from node import new_app
from runtime import InvalidArgument
from runtime.config import App, load_text
from chains.evm.config import ChainConfig

D = Decimal


def agg(readings, now=1000.0, staleness=600, dev=200):
    return aggregate("WETH", readings, now, staleness, dev)


def by_name(a):
    return {s.name: s for s in a.sources}


# ---- aggregation -------------------------------------------------------------------------
def test_median_of_used_sources():
    a = agg([Reading("a", D(3000), 900), Reading("b", D(3010), 990), Reading("c", D(3004))])
    assert a.price == D(3004)
    assert all(s.used for s in a.sources)
    assert a.updated_at == 900       # the oldest used timestamp


def test_even_count_median_is_the_mean_of_the_middle_two():
    a = agg([Reading("a", D(3000)), Reading("b", D(3002)), Reading("c", D(3004)),
             Reading("d", D(3006))])
    assert a.price == D(3003)


def test_stale_source_dropped_with_age():
    a = agg([Reading("feed", D(3000), 100), Reading("pool", D(3001)), Reading("s", D(3002))])
    s = by_name(a)
    assert not s["feed"].used and s["feed"].reason == "stale: updated 900s ago (max_staleness 600s)"
    assert a.price == D("3001.5")


def test_exactly_at_the_staleness_limit_is_fresh():
    assert by_name(agg([Reading("feed", D(3000), 400)]))["feed"].used


def test_one_wild_source_does_not_push_out_the_good_ones():
    a = agg([Reading("a", D(3000)), Reading("b", D(3001)), Reading("c", D(4000))])
    s = by_name(a)
    assert s["a"].used and s["b"].used and not s["c"].used
    assert s["c"].reason.startswith("outlier: 3331 bps from 3000.5")
    assert a.price == D("3000.5")


def test_outliers_removed_one_at_a_time():
    a = agg([Reading(n, D(p)) for n, p in
             [("a", 3000), ("b", 3001), ("c", 3002), ("d", 5000), ("e", 1000)]])
    s = by_name(a)
    assert {n for n, x in s.items() if x.used} == {"a", "b", "c"}
    assert a.price == D(3001)


def test_two_disagreeing_sources_are_both_dropped_then_fallback():
    a = agg([Reading("a", D(3000)), Reading("b", D(3500)),
             Reading("fallback", D(3100), fallback=True)])
    s = by_name(a)
    assert not s["a"].used and not s["b"].used
    assert "the only other source" in s["a"].reason
    assert s["fallback"].used and a.price == D(3100)


def test_deviation_within_bound_keeps_both():
    a = agg([Reading("a", D(3000)), Reading("b", D(3059))])     # 197 bps from 3000
    assert a.price == D("3029.5")


def test_errors_and_non_positive_prices_dropped():
    a = agg([Reading("x", None, error="RpcUnavailable: down"), Reading("y", D(0)),
             Reading("z", D(1))])
    s = by_name(a)
    assert s["x"].reason == "error: RpcUnavailable: down"
    assert s["y"].reason == "invalid: non-positive price"
    assert a.price == D(1)


def test_nothing_usable_explains_every_source():
    a = agg([Reading("feed", D(3000), 1), Reading("pool", None, error="no liquidity")])
    assert a.price is None
    text = a.explain()
    assert "feed: stale" in text and "pool: error: no liquidity" in text
    assert "no price source configured" in aggregate("X", [], 0, 1, 1).explain()


def test_fallback_not_needed_is_reported():
    a = agg([Reading("a", D(2)), Reading("fallback", D(1), fallback=True)])
    assert by_name(a)["fallback"].reason == "fallback: not needed" and a.price == D(2)


def test_fmt_decimal():
    assert fmt_decimal(D("3000.000")) == "3000"
    assert fmt_decimal(D("0.99980000")) == "0.9998"
    assert fmt_decimal(D("1e-30")) == "0"


# ---- pool math and routes ----------------------------------------------------------------
def test_amount_out_matches_contract_formula():
    # 1000 USDC into 3,000,000 USDC / 1,000 WETH with 30 bps
    out = amount_out(1000 * 10**6, 3_000_000 * 10**6, 1000 * 10**18, 30)
    expected = (1000 * 10**6 * 9970 * 1000 * 10**18) // (3_000_000 * 10**6 * 10_000
                                                         + 1000 * 10**6 * 9970)
    assert out == expected
    assert amount_out(0, 1, 1, 30) == 0 and amount_out(1, 0, 1, 30) == 0


def edges(*pools):
    out = []
    for name, a, b, ra, rb in pools:
        out += [Edge(name, a, b, ra, rb, 30), Edge(name, b, a, rb, ra, 30)]
    return out


U, W, K = 10**6, 10**18, 10**18   # USDC, WETH, DAI units


def test_direct_route_when_it_is_best():
    e = edges(("p1", "USDC", "WETH", 3_000_000 * U, 1000 * W),
              ("p2", "USDC", "DAI", 1_000_000 * U, 1_000_000 * K),
              ("p3", "DAI", "WETH", 3_300_000 * K, 1000 * W))
    r = best_route(e, "USDC", "WETH", 1000 * U, 3)
    assert r.pools == ("p1",) and r.kind == "pools"
    assert r.describe() == "USDC->WETH via p1"


def test_multi_hop_when_better():
    e = edges(("p1", "USDC", "WETH", 3_000_000 * U, 1000 * W),
              ("p2", "USDC", "DAI", 1_000_000 * U, 1_000_000 * K),
              ("p3", "DAI", "WETH", 2_700_000 * K, 1000 * W))
    r = best_route(e, "USDC", "WETH", 1000 * U, 3)
    assert r.pools == ("p2", "p3") and r.symbols == ("USDC", "DAI", "WETH")
    direct = amount_out(1000 * U, 3_000_000 * U, 1000 * W, 30)
    assert r.amount_out > direct


def test_multi_hop_when_no_direct_pool_and_hop_limit():
    e = edges(("p2", "USDC", "DAI", 1_000_000 * U, 1_000_000 * K),
              ("p3", "DAI", "WETH", 3_000_000 * K, 1000 * W))
    assert best_route(e, "USDC", "WETH", 10 * U, 3).pools == ("p2", "p3")
    assert best_route(e, "USDC", "WETH", 10 * U, 1) is None
    assert best_route(e, "USDC", "BTC", 10 * U, 3) is None


def test_same_symbol_is_a_transfer():
    r = best_route([], "USDC", "USDC", 5, 3)
    assert r.kind == "transfer" and r.amount_out == 5
    assert r.describe("a", "b") == "USDC(a)->USDC(b) direct transfer"


def test_no_cycles_through_the_start_token():
    e = edges(("p1", "USDC", "WETH", 3_000_000 * U, 1000 * W),
              ("p1b", "USDC", "WETH", 3_000_000 * U, 1000 * W))
    r = best_route(e, "USDC", "WETH", 10 * U, 4)
    assert len(r.pools) == 1


def test_price_ratio_out():
    assert price_ratio_out(3000 * U, 6, D(1), 18, D(3000)) == W
    assert price_ratio_out(1, 6, D(1), 18, D(3)) == 333333333333      # rounded down


# ---- gas ---------------------------------------------------------------------------------
def test_gas_from_fee_history():
    cfg = GasConfig(open=100, fill=200, settle=300, base_fee_multiplier=2.0,
                    min_priority_fee_wei=5)
    hist = {"baseFeePerGas": ["0x3b9aca00", "0x77359400"],     # 1 gwei, then next 2 gwei
            "reward": [["0x1"], ["0x64"], ["0xc8"]]}
    g = estimate_from_history("a", hist, cfg)
    assert g.base_fee_wei == 2 * 10**9 and g.priority_fee_wei == 100
    assert g.max_fee_wei == 4 * 10**9 + 100
    assert g.cost_wei == 600 * g.max_fee_wei
    g0 = estimate_from_history("a", {"baseFeePerGas": ["0x1"], "reward": []}, cfg)
    assert g0.priority_fee_wei == 5
    with pytest.raises(ValueError):
        estimate_from_history("a", {"baseFeePerGas": []}, cfg)


def test_wei_to_token_rounds_up():
    # 0.001 ETH at 3000 USD -> 3 USDC
    assert wei_to_token(10**15, D(3000), D(1), 6) == 3 * U
    assert wei_to_token(1, D(3000), D(1), 6) == 1


# ---- parsing -----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "0", "-1", "1e6", " 5", "0x10", str(2**256), "9" * 79])
def test_bad_amounts(text):
    with pytest.raises(InvalidArgument) as exc:
        parse_amount(text, "input_amount")
    assert exc.value.violations[0][0] == "input_amount"


def test_good_amount_and_addresses():
    assert parse_amount(str(2**256 - 1), "x") == 2**256 - 1
    low = "0xa0cf798816d4b9b9866b5330eea46a18382f251e"
    assert parse_address(low, "user") == "0xA0Cf798816D4b9b9866b5330EEa46a18382f251e"
    assert parse_address(low.upper().replace("0X", "0x"), "user")


# ---- config ------------------------------------------------------------------------------
def app() -> App:
    a = new_app()
    a.section("chains", dict[str, ChainConfig])
    quoter.install(a)
    return a


CHAINS = """chains:
  a:
    chain_id: 1
    rpc: [http://127.0.0.1:1]
    contracts: {settler: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0'}
    tokens:
      USDC: {address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6}
"""
ADDR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.mark.parametrize("section,needle", [
    ("quoter:\n  prices:\n    USDC: {static: 'abc'}\n", "decimal number"),
    ("quoter:\n  prices:\n    USDC: {static: '-1'}\n", "positive"),
    ("quoter:\n  prices:\n    DOGE: {static: '1'}\n", "no chain has a token 'DOGE'"),
    ("quoter:\n  prices:\n    USDC: {pools: [nope]}\n", "unknown pool 'nope'"),
    (f"quoter:\n  pools:\n    p: {{chain: b, address: '{ADDR}'}}\n", "unknown chain 'b'"),
    (f"quoter:\n  prices:\n    USDC:\n      feeds: [{{chain: z, address: '{ADDR}'}}]\n",
     "unknown chain 'z'"),
    ("quoter:\n  open_window: 100\n  fill_window: 50\n", "fill_window"),
    ("quoter:\n  protocol_fee_bps: 5000\n", "<= 1000"),
    ("quoter:\n  cache_tll: 5\n", "unknown key"),
])
def test_config_refusals(section, needle):
    with pytest.raises(Exception) as exc:
        load_text(CHAINS + section, "s.yaml", app())
    assert needle in str(exc.value)


def test_config_defaults_and_child():
    cfg = load_text(CHAINS + "quoter:\n  prices:\n    usdc: {static: '1'}\n", "s.yaml", app())
    q = cfg.section("quoter", QuoterConfig)
    assert q.token_prices("USDC").static == "1" and q.cache_ttl == 2.0
    tree = app().tree(cfg)
    assert [c.id for c in tree.children if c.id == "quoter"] == ["quoter"]
    off = load_text(CHAINS + "quoter: {enabled: false}\n", "s.yaml", app())
    assert "quoter" not in [c.id for c in app().tree(off).children]


def test_config_change_restarts_only_the_quoter():
    a = app()
    one = a.tree(load_text(CHAINS + "quoter: {protocol_fee_bps: 5}\n", "s.yaml", a))
    two = a.tree(load_text(CHAINS + "quoter: {protocol_fee_bps: 7}\n", "s.yaml", a))
    same = a.tree(load_text(CHAINS + "quoter: {protocol_fee_bps: 5}\n", "s.yaml", a))
    q = {c.id: c for c in one.children}["quoter"]
    assert q != {c.id: c for c in two.children}["quoter"]
    assert q == {c.id: c for c in same.children}["quoter"]
    others = lambda t: [c for c in t.children if c.id != "quoter"]  # noqa: E731
    assert others(one) == others(two)
