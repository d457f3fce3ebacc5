"""The book's active intents, with the set of each user's intent ids kept as they change.

``intents.max_open_per_user`` refuses a submission from a user with that many intents not
yet terminal, and an on-chain nonce invalidation names a user, not an intent: Permit2's
``UnorderedNonceInvalidation`` burns a whole mask of one word, so one event can cancel
several intents of its owner. Scanning every active intent for either would cost a pass
over the book; the per-user sets are kept as entries are set and removed, so both are a
lookup (:meth:`OpenIntents.of_user`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._views import IntentView

__all__ = ["OpenIntents"]

_MISSING: Any = object()


class OpenIntents(dict[str, IntentView]):
    def __init__(self, items: Iterable[tuple[str, IntentView]] = ()) -> None:
        super().__init__()
        self._per_user: dict[str, set[str]] = {}   # user (lower case) -> intent ids
        for key, view in items:
            self[key] = view

    def of_user(self, user: str) -> frozenset[str]:
        """The ids of ``user``'s active intents (an address in any case)."""
        return frozenset(self._per_user.get(user.lower(), ()))

    def open_of(self, user: str) -> int:
        return len(self._per_user.get(user.lower(), ()))

    def _add(self, user: str, key: str) -> None:
        self._per_user.setdefault(user.lower(), set()).add(key)

    def _remove(self, user: str, key: str) -> None:
        ids = self._per_user.get(user.lower())
        if ids is not None:
            ids.discard(key)
            if not ids:
                del self._per_user[user.lower()]

    def __setitem__(self, key: str, view: IntentView) -> None:
        old = super().get(key)
        if old is not None:
            self._remove(old.user, key)
        super().__setitem__(key, view)
        self._add(view.user, key)

    def __delitem__(self, key: str) -> None:
        old = super().__getitem__(key)
        super().__delitem__(key)
        self._remove(old.user, key)

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        if key in self:
            view = super().pop(key)
            self._remove(view.user, key)
            return view
        if default is _MISSING:
            raise KeyError(key)
        return default
