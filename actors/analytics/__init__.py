"""``orbital.v1.AnalyticsService``: summary, volume and the solver leaderboard, from the store.

Private modules: :mod:`._query` (the figures as SQL, pure: a database and a scope in, plain
values out; exact uint256 sums on both databases), :mod:`._request` (requests checked at
the edge, each refusal naming its field), :mod:`._service` (the servicer), :mod:`._models`
(the migration: indexes on the book's tables). It reads the book's tables and writes none;
docs/analytics.md says what each figure means.
"""

from __future__ import annotations

from actors.book import MIGRATIONS as BOOK_MIGRATIONS
from runtime.config import App

from ._models import MIGRATION, MIGRATIONS
from ._query import (Durations, Scope, SolverFigures, SummaryFigures, TokenSum, VolumeRow,
                     count_intents, leaderboard, nearest_rank, summary, volume)
from ._request import DEFAULT_PAGE, MAX_BUCKETS, MAX_PAGE
from ._service import AnalyticsServicer, analytics_service

__all__ = ["install", "MIGRATION", "MIGRATIONS", "AnalyticsServicer", "analytics_service", "Scope",
           "TokenSum", "Durations", "SummaryFigures", "VolumeRow", "SolverFigures", "summary",
           "volume", "leaderboard", "count_intents", "nearest_rank", "MAX_BUCKETS",
           "DEFAULT_PAGE", "MAX_PAGE"]


def install(app: App) -> None:
    # the book's tables first (migrations are applied once by id, whoever registers them):
    # a node may serve analytics without running a book
    for migration in [*BOOK_MIGRATIONS, *MIGRATIONS]:
        app.migration(migration)
    app.service(analytics_service)
