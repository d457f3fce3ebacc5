"""Business metrics on the node's real /metrics endpoint, on the devnet: one intent through
its whole life and one refused resubmission give known numbers, read back by the
Prometheus text parser; and Debian's ``promtool check metrics`` accepts the page.

promtool is required (``.ci/run`` installs the Debian package ``prometheus``): without it
this test fails, it is never skipped.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clients import IntentStatus, OrbitalClient, OrbitalRpcError

from .conftest import wait_until
from .test_lifecycle import _watch

S = IntentStatus
ONE_USDC = 10**6


def _scrape(node) -> tuple[str, dict[tuple[str, frozenset], float]]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics",
                                  timeout=10).read().decode()
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for fam in text_string_to_metric_families(body) for s in fam.samples}
    return body, samples


def _value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_business_metrics_after_one_settled_and_one_refused(system, solver, devnet_info, w3s):
    node = system()
    solver(node)
    user = [x for x in devnet_info.accounts if "user" in x.roles][0]
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 250 * ONE_USDC, user.address)
        intent = client.sign_and_submit(quote, user.private_key)
        with pytest.raises(OrbitalRpcError) as err:           # a malformed signature: refused
            client.submit(quote.typed_data, "0x1234")
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, err.value
        seen: list = []
        t = threading.Thread(target=_watch, args=(client, intent.id, seen))
        t.start()
        t.join(90)
        assert not t.is_alive(), f"not terminal: {[u.intent.status for u in seen]}"
        final = client.get(intent.id)
    assert final.status is S.SETTLED

    # the submission counts reach Prometheus at once, the store counts at the next scrape
    wait_until(lambda: _value(_scrape(node)[1], "orbital_intents", status="SETTLED") == 1,
               timeout=10)
    body, m = _scrape(node)
    for status in ("PENDING", "ASSIGNED", "OPENED", "FILLED", "CANCELLED", "EXPIRED",
                   "REFUNDED", "FAILED"):
        assert _value(m, "orbital_intents", status=status) == 0, status
    assert _value(m, "orbital_intent_submissions_total", code="OK") == 1
    assert _value(m, "orbital_intent_submissions_total", code="INVALID_ARGUMENT") == 1
    assert _value(m, "orbital_intent_input_volume_tokens_total",
                  chain="devnet-a", token="USDC") == 250
    assert _value(m, "orbital_intent_fill_volume_tokens_total", chain="devnet-b",
                  token="USDC") == final.awarded_output_amount / ONE_USDC
    assert _value(m, "orbital_intent_fill_seconds_count") == 1
    assert _value(m, "orbital_intent_settle_seconds_count") == 1
    assert _value(m, "orbital_intent_settle_seconds_bucket", le="+Inf") == 1
    at = {t.status: t.at.timestamp() for t in final.history}  # as the book committed them
    assert _value(m, "orbital_intent_fill_seconds_sum") == \
        pytest.approx(at[S.FILLED] - at[S.PENDING], abs=1e-3)
    assert _value(m, "orbital_intent_settle_seconds_sum") == \
        pytest.approx(at[S.SETTLED] - at[S.FILLED], abs=1e-3)
    assert _value(m, "orbital_auction_bids_count") == 1       # one round, one solver: one bid
    assert _value(m, "orbital_auction_bids_sum") == 1
    for chain in ("devnet-a", "devnet-b", "solana-local"):
        assert _value(m, "orbital_attester_backlog", chain=chain) == 0, chain
    assert _value(m, "orbital_solver_sessions") == 1
    assert _value(m, "orbital_chain_lag_blocks", chain="devnet-a") is not None
    # no per-intent or per-user label anywhere on the page
    assert intent.id not in body and user.address not in body
    assert user.address.lower() not in body

    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed (Debian package prometheus; .ci/run installs it)"
    out = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr

