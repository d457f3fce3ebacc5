"""A singleton's lease, as its actor holds it: leadership, fencing and hand-over.

Several nodes on one database each run every singleton actor (the book, an attester, a
funding account...), but only the holder of the singleton's lease does its work; the others
stand by, warm, and take the lease over when it expires (the holder died) or is released
(the holder stopped gracefully). This is the PostgreSQL-lease pattern: no consensus of our
own, the database decides.

A lease alone does not make a singleton safe: a holder that pauses (a GC stall, SIGSTOP, a
VM migration) may wake up after its lease moved and still believe it leads. So every write
the holder makes runs in :meth:`SingletonLease.fenced`, a transaction that first proves the
lease is still held at the holder's epoch (its fencing token, which grows with each new
holder) and renews it; an ex-holder's write raises :class:`LeaseLost` and rolls back. What
leaves the process without a write (a transaction already recorded, broadcast again) is
checked with :meth:`SingletonLease.check` just before it goes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._errors import LeaseLost, Unavailable

if TYPE_CHECKING:   # the store imports the actor base, which imports this module
    import peewee

    from .store._store import Store

__all__ = ["SingletonLease", "standby_interval"]

log = logging.getLogger("orbital.lease")


def standby_interval(ttl: float) -> float:
    """How often a standby tries to take a lease over: often enough that a released lease
    (graceful stop) moves within about half a second, and an expired one within
    ``ttl`` plus this after the holder's last renewal."""
    return min(ttl / 3, 0.5)


class SingletonLease:
    """Lease ``name`` for one actor of this node (:meth:`runtime.Actor.hold_lease`).

    Not thread-safe: used from its actor's thread only. ``epoch`` is the fencing token
    while held, None while another node holds the lease (or before the first try)."""

    def __init__(self, store: Store, name: str, ttl: float) -> None:
        self.store = store
        self.name = name
        self.ttl = ttl
        self.epoch: int | None = None

    @property
    def held(self) -> bool:
        return self.epoch is not None

    def renew(self) -> bool:
        """Take or renew the lease; True when this changed whether it is held (gained or
        lost). A store outage counts as lost: without the database no write is fenced,
        and another node may take the lease meanwhile."""
        before = self.epoch
        try:
            self.epoch = self.store.acquire_lease(self.name, self.ttl)
        except Unavailable as exc:
            self.epoch = None
            if before is not None:
                log.warning("lease not renewed (%s); standing by", exc,
                            extra={"lease": self.name})
        changed = before != self.epoch
        if changed:
            if self.epoch is not None:
                log.info("lease taken", extra={"lease": self.name, "epoch": self.epoch})
            else:
                log.warning("lease lost: another node does this work; standing by",
                            extra={"lease": self.name, "epoch": before})
        return changed

    @contextlib.contextmanager
    def fenced(self) -> Iterator[peewee.Database]:
        """A transaction that commits only while this node holds the lease at its epoch.

        :class:`LeaseLost` when it is not held (now, or any more: the fence failed, and
        the lease is then marked lost so the actor stands by)."""
        if self.epoch is None:
            raise LeaseLost(f"this node does not hold {self.name}; another node does its work")
        try:
            with self.store.atomic() as db:
                self.store.fence(self.name, self.epoch, self.ttl)
                yield db
        except LeaseLost:
            log.warning("write refused: lease lost (fenced)",
                        extra={"lease": self.name, "epoch": self.epoch})
            self.epoch = None
            raise

    def check(self) -> None:
        """Prove the lease is held now (an empty fenced transaction), before an action
        that writes nothing: a broadcast of a transaction recorded earlier."""
        with self.fenced():
            pass

    def release(self) -> None:
        """Give the lease up at once (graceful stop): a standby takes it within
        :func:`standby_interval`. Best effort; unreleased, it expires after ``ttl``."""
        if self.epoch is None:
            return
        self.epoch = None
        try:
            self.store.release_lease(self.name)
        except Exception:  # noqa: BLE001 - it expires by itself
            log.warning("lease not released; it expires by itself", extra={"lease": self.name})

    def __repr__(self) -> str:
        state: Any = self.epoch if self.epoch is not None else "standby"
        return f"SingletonLease({self.name!r}, {state})"
