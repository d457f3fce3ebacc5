"""Small conversions every servicer needs, in one place."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

__all__ = ["timestamp"]


def timestamp(seconds: float | None) -> Timestamp | None:
    """Unix seconds -> ``google.protobuf.Timestamp``; None (unset field) for None."""
    if seconds is None:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(round(seconds * 1e9)))
    return ts
