"""The book's business metrics on the node's /metrics (docs/metrics.md lists them all).

Two sources, each where it is exact:

* events: volume, time to fill and settle and bids per auction are observed by the book
  actor where it commits the transition or closes the auction (:class:`BookMetrics`);
* counts: intents by status and the attester backlog (FILLED intents per origin chain) are
  one ``GROUP BY`` on the ``intent`` table at scrape time (:func:`register_counts`). The
  book's memory holds only its active intents, only on the node that holds the book's
  lease, and starts empty after a restart; the table is the truth every node shares, so
  every node reports the same figure (aggregate with ``max``, never ``sum``).

Labels stay bounded: status (nine values), chain (the configured chains) and token (the
configured tokens' symbols; an amount of a token the chains section does not name is not
counted, so an order opened on chain with a made-up token cannot add a series). Volume is
in whole tokens (base units / 10**decimals) because a Prometheus counter is a float: exact
amounts are the analytics' decimal strings (docs/analytics.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import peewee
from prometheus_client.core import GaugeMetricFamily, Metric

from chains.directory import Directory, UnknownName
from runtime import Unavailable

from ._models import IntentRow, IntentTransition
from ._views import IntentView, Status, TransitionView

__all__ = ["BookMetrics", "register_counts", "DURATION_BUCKETS", "BID_BUCKETS"]

log = logging.getLogger("orbital.book")

# seconds: an EVM fill takes blocks (seconds to minutes), settlement waits for depth
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                    10800.0, 86400.0)
BID_BUCKETS = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0)


class BookMetrics:
    """Observed by the book actor at the transitions it commits (its own thread)."""

    def __init__(self, metrics: Any, directory: Directory, store: Any) -> None:
        self.directory, self.store = directory, store
        self.volume_in = metrics.counter(
            "orbital_intent_input_volume_tokens_total",
            "Input amount of accepted intents, in whole tokens (base units / 10**decimals), "
            "by origin chain and token symbol", ("chain", "token"))
        self.volume_out = metrics.counter(
            "orbital_intent_fill_volume_tokens_total",
            "Output delivered by the fills that proved intents FILLED, in whole tokens "
            "(base units / 10**decimals), by destination chain and token symbol",
            ("chain", "token"))
        self.to_fill = metrics.histogram(
            "orbital_intent_fill_seconds",
            "Seconds from an intent's acceptance to the transition to FILLED",
            DURATION_BUCKETS)
        self.to_settle = metrics.histogram(
            "orbital_intent_settle_seconds",
            "Seconds from an intent's transition to FILLED to the one to SETTLED",
            DURATION_BUCKETS)
        self.bids = metrics.histogram(
            "orbital_auction_bids",
            "Bids counted when an auction round closes (one observation per round)",
            BID_BUCKETS)

    def _tokens(self, chain: str, token: str, amount: int) -> tuple[str, str, float] | None:
        try:
            ref = self.directory.token(chain, token)
        except UnknownName:
            return None
        return ref.chain, ref.symbol, amount / 10 ** ref.decimals

    def accepted(self, view: IntentView) -> None:
        got = self._tokens(view.origin_chain, view.input_token, view.input_amount)
        if got is not None:
            self.volume_in.labels(got[0], got[1]).inc(got[2])

    def committed(self, new: IntentView, t: TransitionView) -> None:
        """One committed transition (called after the transaction)."""
        if t.status is Status.FILLED and t.from_status is not Status.FILLED:
            self.to_fill.observe(max(0.0, t.at - new.created_at))
            got = self._tokens(new.destination_chain, new.output_token, new.fill_amount)
            if got is not None:
                self.volume_out.labels(got[0], got[1]).inc(got[2])
        elif t.status is Status.SETTLED and t.from_status is Status.FILLED:
            # the last move into FILLED (a finding recorded on a FILLED intent is a FILLED ->
            # FILLED entry and a reorg may have undone an earlier fill): that fill settled
            with self.store.connection():
                filled = (IntentTransition.select(peewee.fn.MAX(IntentTransition.at))
                          .where((IntentTransition.intent == new.id)
                                 & (IntentTransition.status == Status.FILLED.value)
                                 & (IntentTransition.from_status != Status.FILLED.value))
                          .scalar())
            if filled is not None:
                self.to_settle.observe(max(0.0, t.at - float(filled)))

    def auction_closed(self, bids: int) -> None:
        self.bids.observe(bids)


def register_counts(metrics: Any, store: Any, chains: Iterable[str]) -> None:
    """Intents by status and the attester backlog (0 for a configured chain with none),
    counted in the store at each scrape. A store that cannot answer leaves both out of that
    scrape (the rest of /metrics still serves; an absent series is what alerts see)."""
    names = tuple(chains)

    def collect() -> Iterable[Metric]:
        by_status = GaugeMetricFamily(
            "orbital_intents", "Intents in the store by status (a count at scrape time)",
            labels=["status"])
        backlog = GaugeMetricFamily(
            "orbital_attester_backlog",
            "FILLED intents waiting for settlement, by origin chain (a count at scrape time)",
            labels=["chain"])
        counts = {s.value: 0 for s in Status}
        waiting = dict.fromkeys(names, 0)
        try:
            rows = _count(store)
        except (Unavailable, peewee.PeeweeException) as exc:
            log.warning("intent counts not read for /metrics", extra={"error": repr(exc)[:200]})
            return
        for status, chain, n in rows:
            counts[status] = counts.get(status, 0) + n
            if status == Status.FILLED.value:
                waiting[chain] = waiting.get(chain, 0) + n

        for status, n in sorted(counts.items()):
            by_status.add_metric([status], n)
        for chain, n in sorted(waiting.items()):
            backlog.add_metric([chain], n)
        yield by_status
        yield backlog

    metrics.collector("book_counts", collect)


def _count(store: Any) -> list[tuple[str, str, int]]:
    with store.connection():
        query = (IntentRow.select(IntentRow.status, IntentRow.origin_chain,
                                  peewee.fn.COUNT(IntentRow.id))
                 .group_by(IntentRow.status, IntentRow.origin_chain).tuples())
        rows: Iterable[Any] = query
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]
