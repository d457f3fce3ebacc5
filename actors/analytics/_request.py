"""Checking analytics requests at the edge: every bad field is an INVALID_ARGUMENT naming it.

Chains and tokens resolve through the config's one directory
(:class:`chains.directory.Directory`: EVM chains and Solana destinations), as everywhere
else; time ranges must not be inverted; a volume query may span at most :data:`MAX_BUCKETS`
buckets (a range of years in hours would be a reply of tens of
thousands of rows per route); leaderboard pages are 1 to :data:`MAX_PAGE` rows with an
opaque token bound to nothing but the board (runtime.grpc paging).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chains.directory import Directory, UnknownName
from orbital.v1 import analytics_pb2
from runtime import InvalidArgument

from ._query import Scope

__all__ = ["MAX_BUCKETS", "DEFAULT_PAGE", "MAX_PAGE", "PERIODS", "BUCKETS", "Window",
           "window_of", "scope_of", "bucket_of", "page_size_of"]

MAX_BUCKETS = 1000
DEFAULT_PAGE, MAX_PAGE = 50, 500
HOUR, DAY = 3600, 86400
PERIODS: dict[int, float | None] = {
    analytics_pb2.PERIOD_UNSPECIFIED: DAY, analytics_pb2.PERIOD_HOUR: HOUR,
    analytics_pb2.PERIOD_DAY: DAY, analytics_pb2.PERIOD_WEEK: 7 * DAY,
    analytics_pb2.PERIOD_MONTH: 30 * DAY, analytics_pb2.PERIOD_ALL: None}
BUCKETS: dict[int, int] = {analytics_pb2.BUCKET_UNSPECIFIED: HOUR, analytics_pb2.BUCKET_HOUR: HOUR,
           analytics_pb2.BUCKET_DAY: DAY}
# Far enough for any real range, small enough that float seconds stay exact to the micro.
_LATEST = 253402300800   # 10000-01-01


@dataclass(frozen=True)
class Window:
    """[start, end) in unix seconds; ``start`` None: since the first intent (PERIOD_ALL)."""

    start: float | None
    end: float


def window_of(f: analytics_pb2.Filter, now: float) -> Window:
    """The time range of ``f``: a period ending now (or at end_time), or start_time to
    end_time (default now)."""
    has_start, has_end = f.HasField("start_time"), f.HasField("end_time")
    if f.period not in PERIODS:
        raise InvalidArgument(f"unknown period {f.period}", field="filter.period")
    end = _seconds(f.end_time, "filter.end_time") if has_end else now
    if has_start:
        if f.period != analytics_pb2.PERIOD_UNSPECIFIED:
            raise InvalidArgument("give period or start_time, not both", field="filter.period")
        start = _seconds(f.start_time, "filter.start_time")
        if end <= start:
            raise InvalidArgument("end_time must be after start_time (the range is "
                                  "[start_time, end_time))", field="filter.end_time")
        return Window(start, end)
    span = PERIODS[f.period]
    return Window(None if span is None else end - span, end)


def _seconds(ts, field: str) -> float:
    value = ts.seconds + ts.nanos / 1e9
    if not 0 <= value < _LATEST or not 0 <= ts.nanos < 1_000_000_000:
        raise InvalidArgument("a time between 1970 and 9999 is required", field=field)
    return value


def scope_of(f: analytics_pb2.Filter, window: Window, first: float, directory: Directory) -> Scope:
    """The query scope: ``first`` stands for the start of an open range (the first intent)."""
    origin = _chain(directory, f.origin_chain, "filter.origin_chain")
    destination = _chain(directory, f.destination_chain, "filter.destination_chain")
    return Scope(first if window.start is None else window.start, window.end,
                 (origin,) if origin else (), (destination,) if destination else (),
                 _tokens(directory, origin, f.input_token, "filter.input_token"),
                 _tokens(directory, destination, f.output_token, "filter.output_token"))


def _chain(directory: Directory, key: str, field: str) -> str:
    if not key:
        return ""
    try:
        return directory.chain(key).name
    except UnknownName as exc:
        raise InvalidArgument(str(exc), field=field) from None


def _tokens(directory: Directory, chain: str, key: str, field: str) -> tuple[str, ...]:
    """The addresses ``key`` names: on ``chain``, or on any configured chain."""
    if not key:
        return ()
    chains = [chain] if chain else [c.name for c in directory.chains]
    found: set[str] = set()
    last: UnknownName | None = None
    for name in chains:
        try:
            found.add(directory.token(name, key).address)
        except UnknownName as exc:
            last = exc
    if not found:
        why = str(last) if chain and last else \
            f"unknown token {key[:64]!r} on every configured chain"
        raise InvalidArgument(why, field=field)
    return tuple(sorted(found))


def bucket_of(bucket: int, start: float, end: float) -> int:
    """Seconds per bucket; refused when [start, end) would need more than MAX_BUCKETS."""
    seconds = BUCKETS.get(bucket)
    if seconds is None:
        raise InvalidArgument(f"unknown bucket {bucket}", field="bucket")
    n = math.ceil((end - math.floor(start / seconds) * seconds) / seconds)
    if n > MAX_BUCKETS:
        raise InvalidArgument(f"the range spans {n} buckets of {seconds // HOUR} h; at most "
                              f"{MAX_BUCKETS}: use a shorter range or BUCKET_DAY", field="bucket")
    return seconds


def page_size_of(size: int) -> int:
    if size == 0:
        return DEFAULT_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise InvalidArgument(f"page_size must be 1 to {MAX_PAGE} (0: {DEFAULT_PAGE})",
                              field="page_size")
    return size
