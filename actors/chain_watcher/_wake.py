"""Waking the intent book after a watcher's commit: one way for both kinds of watcher.

A nudge only: the book reads ``chain_event`` and ``solana_transfer`` from its own cursors,
so a lost or duplicated wake-up changes nothing. The book that leads may run on another
node (PostgreSQL): it is woken through ``Store.notify`` as well (docs/cluster.md
"Wake-ups")."""

from __future__ import annotations

from typing import Any

from actors import BOOK_PATH
from runtime import ActorUnavailable, Unavailable

from ._messages import CHAIN_EVENTS_CHANNEL, ChainReorged

__all__ = ["wake_book"]


def wake_book(registry: Any, store: Any, message: Any) -> None:
    try:
        registry.tell(BOOK_PATH, message)
    except ActorUnavailable:
        pass  # the store is the source of truth: the book catches up from its cursors
    if store.is_postgres:
        try:
            store.notify(CHAIN_EVENTS_CHANNEL,
                         "reorg" if isinstance(message, ChainReorged) else "events")
        except Unavailable:
            pass
