"""Messages of the chain watchers: what a watcher tells ``intents/book``, and what it answers.

``ChainEventsCommitted`` / ``ChainReorged`` are only a nudge: the book reads ``chain_event``
from its own cursor, so a lost or duplicated notification changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WatcherStatus", "ChainEventsCommitted", "ChainReorged", "CHAIN_EVENTS_CHANNEL"]

# Store.notify channel: a watcher committed events ("events") or rolled back a reorg
# ("reorg"); the leading book listens (it may run on another node).
CHAIN_EVENTS_CHANNEL = "orbital_chain_events"


@dataclass(frozen=True)
class WatcherStatus:
    """Ask: the watcher's live view (head, confirmed, indexed, RPC health)."""


@dataclass(frozen=True)
class ChainEventsCommitted:
    """Told to ``intents/book`` after a commit: events of blocks [from_block, to_block]."""

    chain: str
    from_block: int
    to_block: int
    count: int


@dataclass(frozen=True)
class ChainReorged:
    """Told to ``intents/book`` after a rollback: every event above ``fork_block`` is gone."""

    chain: str
    fork_block: int
    removed_events: int
