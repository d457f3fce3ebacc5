"""Funding balances against their thresholds on the node's real /metrics: the gauges
follow the balance each round reads (a drained ERC-20 account, then topped up), next to
the configured min_balance and target_balance, all in whole tokens."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from .conftest import default_account, fresh_address

LABELS = {"account": "usdc", "chain": "devnet-a", "asset": "USDC"}


def _gauges(node) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics",
                                  timeout=10).read().decode()
    return {s.name: s.value for fam in text_string_to_metric_families(body)
            for s in fam.samples if s.name.startswith("orbital_funding_") and s.labels == LABELS}


def test_balance_min_and_target_gauges_follow_the_rounds(tmp_path, chain_a, treasury,
                                                         funding_node):
    target = fresh_address()                                # holds no USDC
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"usdc": default_account(
        target, asset="USDC", min_balance="100", target_balance="250.5",
        max_per_top_up="1000", daily_cap="10000")})
    assert fn.poll("usdc").state == "topping_up"            # read 0, below min: top-up sent
    assert _gauges(fn.node) == {"orbital_funding_balance_tokens": 0.0,
                                "orbital_funding_min_balance_tokens": 100.0,
                                "orbital_funding_target_balance_tokens": 250.5}
    assert fn.poll("usdc").state == "ok"                    # the next round reads the top-up
    assert _gauges(fn.node)["orbital_funding_balance_tokens"] == 250.5
