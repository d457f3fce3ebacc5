"""The node's one way to the leading book's node: a :class:`runtime.grpc.Forwarder` for
lease ``book``, shared by the intent service (forwarded submissions and cancellations) and
the solver service (relayed challenges and sessions), so they follow one holder lookup and
one channel per leader (docs/cluster.md)."""

from __future__ import annotations

import weakref
from typing import Any

from runtime.grpc import Forwarder

__all__ = ["book_forwarder"]

_FORWARDERS: weakref.WeakKeyDictionary[Any, Forwarder] = weakref.WeakKeyDictionary()


def book_forwarder(node: Any) -> Forwarder:
    """The Forwarder to the node whose book leads, made on first use (on the gRPC loop)."""
    fwd = _FORWARDERS.get(node)
    if fwd is None:
        fwd = _FORWARDERS[node] = Forwarder(node.store, node.grpc, "book",
                                            what="the intent book")
    return fwd
