"""``node.metrics_cache``: a scrape-time figure (a store count) is computed at most once per
that many seconds of the node's clock, whoever scrapes (HTTP scrapers, the alerts actor's
registry reads); concurrent scrapes share one computation; 0 computes at every scrape; a
reload changes it. A real node on loopback, its real /metrics over HTTP, a FakeClock."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterable

import pytest
from prometheus_client.core import GaugeMetricFamily, Metric

from runtime import ConfigError
from runtime.config import load_text
from runtime.testing import FakeClock

from .conftest import make_app, write_config


class Counting:
    """A scrape-time figure that counts its computations; ``gate`` holds one open."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def collect(self) -> Iterable[Metric]:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(30)
        fam = GaugeMetricFamily("orbital_test_computations", "Times computed")
        fam.add_metric([], self.calls)
        yield fam


def _value(node) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics",
                                timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith("orbital_test_computations "):
                return float(line.split()[1])
    raise AssertionError("orbital_test_computations not on the page")


@pytest.fixture
def started(tmp_path, nodes):
    def start(**node_keys):
        clock = FakeClock()
        path = write_config(tmp_path / "supervisor.yaml", f"sqlite:///{tmp_path}/o.db",
                            tmp_path / "var", **node_keys)
        node = nodes.start(path, make_app, clock=clock)
        counting = Counting()
        node.metrics.collector("test_counting", counting.collect)
        return node, clock, counting
    return start


def test_scrapes_within_the_cache_time_share_one_computation(started):
    node, clock, counting = started(metrics_cache=5)
    assert _value(node) == 1
    assert _value(node) == 1 and counting.calls == 1        # served from the cache
    list(node.metrics.registry.collect())                    # the alerts actor's read too
    assert counting.calls == 1
    clock.advance(4.9)
    assert _value(node) == 1
    clock.advance(0.1)                                       # 5 s: computed again
    assert _value(node) == 2 and counting.calls == 2


def test_concurrent_scrapes_wait_for_the_one_running(started):
    node, clock, counting = started(metrics_cache=5)
    counting.gate.clear()
    seen: list[float] = []
    threads = [threading.Thread(target=lambda: seen.append(_value(node))) for _ in range(4)]
    threads[0].start()
    assert counting.entered.wait(10)                         # one computation under way
    for t in threads[1:]:
        t.start()
    counting.gate.set()
    for t in threads:
        t.join(30)
    assert seen == [1, 1, 1, 1] and counting.calls == 1


def test_zero_computes_at_every_scrape_and_a_reload_changes_it(started, tmp_path):
    node, clock, counting = started(metrics_cache=0)
    assert [_value(node) for _ in range(3)] == [1, 2, 3]
    write_config(tmp_path / "supervisor.yaml", f"sqlite:///{tmp_path}/o.db",
                 tmp_path / "var", metrics_cache=60)
    node.reload()
    assert [_value(node) for _ in range(3)] == [3, 3, 3]   # the last computation, reused
    clock.advance(60)
    assert _value(node) == 4


@pytest.mark.parametrize("value", ["-1", "301", "'soon'"])
def test_metrics_cache_is_validated(value):
    with pytest.raises(ConfigError) as err:
        load_text(f"node:\n  metrics_cache: {value}\n", "s.yaml", make_app(), env={})
    assert "s.yaml:2" in str(err.value) and "metrics_cache" in str(err.value)


def test_default_is_a_few_seconds():
    cfg = load_text("node: {}\n", "s.yaml", make_app(), env={})
    assert cfg.node.metrics_cache == 5.0
