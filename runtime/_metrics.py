"""Prometheus metrics of the node, on their own registry (one per node, so tests can run
several nodes in one process). Served on ``node.metrics_listen`` (default 127.0.0.1:9464).

Scrape-time figures (:meth:`Metrics.collector`, a store count) are reused for
``node.metrics_cache`` seconds: at 100,000 intents the book's count is a 70-400 ms
table scan (``make bench``), and every scraper (two Prometheus replicas, a federation,
the alerts actor's own rule evaluation) would pay it again. Within that time one query
answers them all; scrapes that arrive while it runs wait for it instead of adding theirs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from ._events import Event

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

__all__ = ["Metrics"]

_FAST = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.restarts = Counter("orbital_actor_restarts_total",
                                "Restarts of an actor by its supervisor", ["actor"], registry=r)
        self.failures = Counter("orbital_actor_failures_total",
                                "Abnormal exits of an actor", ["actor"], registry=r)
        self.handling = Histogram("orbital_actor_message_seconds",
                                  "Time an actor spends handling one message",
                                  ["actor"], buckets=_FAST, registry=r)
        self.grpc_requests = Counter("orbital_grpc_requests_total",
                                     "gRPC requests by method and status code",
                                     ["method", "code"], registry=r)
        self.grpc_seconds = Histogram("orbital_grpc_request_seconds",
                                      "gRPC request latency", ["method"], buckets=_FAST,
                                      registry=r)
        self.reloads = Counter("orbital_config_reloads_total", "Config reloads by result",
                               ["result"], registry=r)
        self.escalations = Counter("orbital_supervisor_escalations_total",
                                   "Supervisors that exceeded their restart intensity",
                                   ["supervisor"], registry=r)
        self.up = Gauge("orbital_node_serving", "1 while the node serves requests",
                        registry=r)
        self._handling_children: dict[str, Histogram] = {}
        self._kind_metrics: dict[str, Gauge | Counter | Histogram] = {}
        self._collectors: set[str] = set()
        self._server: WSGIServer | None = None
        self.cache_seconds = 0.0            # node.metrics_cache, set by the node
        self._now: Callable[[], float] = time.monotonic

    def cache_for(self, seconds: float, now: Callable[[], float] | None = None) -> None:
        """Reuse scrape-time figures for ``seconds`` (0: computed at every scrape), timed
        by ``now`` (monotonic seconds: the node's clock). Applies to every collector,
        also those registered before; a reload may change it."""
        self.cache_seconds = max(0.0, float(seconds))
        if now is not None:
            self._now = now

    def gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        """A kind's own gauge on this node's registry, created once (actors restart; the
        metric stays). The one way for kinds to add metrics."""
        return self._kind_metric(Gauge, name, doc, labels)

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return self._kind_metric(Counter, name, doc, labels)

    def histogram(self, name: str, doc: str, buckets: tuple[float, ...],
                  labels: tuple[str, ...] = ()) -> Histogram:
        """A kind's own histogram; the buckets of its first creation stay."""
        return self._kind_metric(Histogram, name, doc, labels, buckets=buckets)

    def collector(self, key: str, collect: Callable[[], Iterable[Metric]]) -> None:
        """Figures computed at scrape time (a store count), registered once per ``key``:
        an actor that restarts registers again and keeps the first one."""
        if key in self._collectors:
            return
        self._collectors.add(key)
        self.registry.register(_Cached(collect, self))

    def _kind_metric(self, cls, name: str, doc: str, labels: tuple[str, ...], **kw: Any):
        metric = self._kind_metrics.get(name)
        if metric is None:
            metric = self._kind_metrics[name] = cls(name, doc, list(labels),
                                                    registry=self.registry, **kw)
        elif not isinstance(metric, cls):
            raise ValueError(f"metric {name} already registered as {type(metric).__name__}")
        return metric

    def watch_mailboxes(self, depths: Callable[[], dict[str, int]]) -> None:
        class _Mailboxes:
            def collect(self):
                fam = GaugeMetricFamily("orbital_actor_mailbox_depth",
                                        "Messages waiting in an actor's mailbox", labels=["actor"])
                for path, depth in depths().items():
                    fam.add_metric([path], depth)
                yield fam
        self.registry.register(_Mailboxes())

    def observe(self, path: str, kind: str, seconds: float) -> None:
        child = self._handling_children.get(path)
        if child is None:
            child = self._handling_children[path] = self.handling.labels(path)
        child.observe(seconds)

    def on_event(self, event: Event) -> None:
        if event.kind == "restarted":
            self.restarts.labels(event.path).inc()
        elif event.kind == "exited" and event.data.get("reason") not in (None, "normal"):
            self.failures.labels(event.path).inc()
        elif event.kind == "escalated":
            self.escalations.labels(event.path).inc()

    def grpc_request(self, method: str, code: str, seconds: float) -> None:
        self.grpc_requests.labels(method, code).inc()
        self.grpc_seconds.labels(method).observe(seconds)

    def serve(self, listen: str) -> int:
        host, _, port = listen.rpartition(":")
        self._server, _ = start_http_server(int(port), host.strip("[]"), registry=self.registry)
        return self._server.server_port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Cached:
    """One scrape-time collector behind the node's cache: its figures are computed at most
    once per ``cache_seconds`` (under a lock, so concurrent scrapes share one computation)
    and served as they were computed (every family of one computation together)."""

    def __init__(self, collect: Callable[[], Iterable[Metric]], owner: Metrics) -> None:
        self._collect, self._owner = collect, owner
        self._lock = threading.Lock()
        self._at: float | None = None
        self._families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            ttl, now = self._owner.cache_seconds, self._owner._now()
            if self._at is None or ttl <= 0 or not (self._at <= now < self._at + ttl):
                self._families = list(self._collect())
                self._at = now
            return list(self._families)
