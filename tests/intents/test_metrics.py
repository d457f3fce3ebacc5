"""The store counts on /metrics through a PostgreSQL outage: while the database is down a
scrape still answers (the counts are left out, logged, once the cached ones are older than
``node.metrics_cache``), and they come back with it."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from node import build_app
from orbital.v1 import intents_pb2_grpc
from runtime.testing import scratch_postgres_server, wait_until
from tests._node import TestNodes

from .conftest import ADDR, ONE_USDC, make_order, signed_request, write_node_config


def _scrape(node) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics",
                                timeout=10) as resp:
        assert resp.status == 200
        body = resp.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(body) for s in fam.samples}


def _pending(samples) -> float | None:
    return samples.get(("orbital_intents", frozenset({("status", "PENDING")})))


def test_store_counts_survive_an_outage(tmp_path):
    with scratch_postgres_server() as pg, TestNodes(tmp_path) as nodes:
        path = write_node_config(tmp_path / "supervisor.yaml", pg.url, tmp_path / "var")
        node = nodes.start(path, build_app)
        stub = nodes.stub(node, intents_pb2_grpc.IntentServiceStub)
        stub.SubmitIntent(signed_request(make_order(nonce=1, amount=120 * ONE_USDC)))

        # the counts are reused for node.metrics_cache seconds: a figure from a scrape (or an
        # alert rule's read) before the submission may still be served for that long
        m = wait_until(lambda: (lambda m: m if _pending(m) == 1 else None)(_scrape(node)),
                       timeout=30)                    # no solver: it waits in its auction
        assert m[("orbital_attester_backlog", frozenset({("chain", "devnet-a")}))] == 0
        assert m[("orbital_intent_input_volume_tokens_total",
                  frozenset({("chain", "devnet-a"), ("token", "USDC")}))] == 120
        assert m[("orbital_intent_submissions_total", frozenset({("code", "OK")}))] == 1

        pg.stop()                                     # the page serves, without the counts
        m = wait_until(lambda: (lambda m: m if _pending(m) is None else None)(_scrape(node)),
                       timeout=30)                    # once the cached ones are stale
        assert not any(name == "orbital_attester_backlog" for name, _ in m)
        assert m[("orbital_node_serving", frozenset())] == 1
        assert m[("orbital_intent_submissions_total", frozenset({("code", "OK")}))] == 1

        pg.start()
        wait_until(lambda: _pending(_scrape(node)) == 1, timeout=30)


def test_volume_counts_only_configured_tokens(tmp_path):
    """An order opened on chain may name any token: only the chains section's tokens make a
    series (bounded labels), and amounts are whole tokens by the token's decimals."""
    from dataclasses import replace

    from actors.book import BookMetrics, IntentView, Status, TransitionView
    from chains.directory import Directory, intent_chains_of
    from runtime import Metrics

    with TestNodes(tmp_path) as nodes:
        path = write_node_config(tmp_path / "supervisor.yaml", f"sqlite:///{tmp_path}/o.db",
                                 tmp_path / "var")
        node = nodes.start(path, build_app)
        metrics = Metrics()
        book = BookMetrics(metrics, Directory(intent_chains_of(node.config)), node.store)
        o = make_order(nonce=1)
        view = IntentView(
            id="0x" + "11" * 32, status=Status.PENDING, version=1, user=o.user, nonce=1,
            origin_chain="devnet-a", origin_chain_id=31337, destination_chain="devnet-b",
            destination_chain_id=31338, origin_settler=o.origin_settler,
            input_token=o.order.input_token, input_amount=1_500_000_000_000_000_000,
            output_token=o.order.output_token, min_output=1, recipient=o.user,
            open_deadline=o.open_deadline, fill_deadline=o.fill_deadline, source="onchain",
            created_at=100.0, updated_at=100.0)
        weth = replace(view, input_token=ADDR["WETH"])
        book.accepted(weth)                                     # 1.5 WETH (18 decimals)
        book.accepted(replace(view, input_token="0x" + "ab" * 20))   # not configured
        book.committed(replace(view, status=Status.FILLED, fill_amount=2_500_000,
                               output_token="0x" + "cd" * 20),
                       TransitionView(2, Status.OPENED, Status.FILLED, 130.0, "filled"))
        series = {(s.name, tuple(sorted(s.labels.items()))): s.value
                  for fam in metrics.registry.collect() for s in fam.samples
                  if s.name.endswith("volume_tokens_total")}
        assert series == {("orbital_intent_input_volume_tokens_total",
                           (("chain", "devnet-a"), ("token", "WETH"))): 1.5}
        assert metrics.registry.get_sample_value("orbital_intent_fill_seconds_sum") == 30.0
