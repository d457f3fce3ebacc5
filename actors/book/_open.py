"""The book's active intents, with a count of open intents per user kept as they change.

``intents.max_open_per_user`` refuses a submission from a user with that many intents not
yet terminal. Counting on each submission would scan every active intent; this dict keeps
the count per user as entries are set and removed, so the check is a lookup.
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
        self._per_user: dict[str, int] = {}
        for key, view in items:
            self[key] = view

    def open_of(self, user: str) -> int:
        return self._per_user.get(user, 0)

    def _count(self, user: str, delta: int) -> None:
        n = self._per_user.get(user, 0) + delta
        if n > 0:
            self._per_user[user] = n
        else:
            self._per_user.pop(user, None)

    def __setitem__(self, key: str, view: IntentView) -> None:
        old = super().get(key)
        if old is not None:
            self._count(old.user, -1)
        super().__setitem__(key, view)
        self._count(view.user, 1)

    def __delitem__(self, key: str) -> None:
        old = super().__getitem__(key)
        super().__delitem__(key)
        self._count(old.user, -1)

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        if key in self:
            view = super().pop(key)
            self._count(view.user, -1)
            return view
        if default is _MISSING:
            raise KeyError(key)
        return default
