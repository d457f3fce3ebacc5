"""Opaque, filter-bound page tokens: the one paging scheme of every List* method.

A token is base64 of ``{"v": 1, "after": <position>, "f": <digest of the filters>}``. The
position is whatever keyset the method pages by (an id, a (time, id) pair); binding the
filters means a token reused with other filters is refused rather than silently paging
a different result set.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from collections.abc import Callable

from .._errors import InvalidArgument

__all__ = ["filters_digest", "encode_token", "decode_token"]


def filters_digest(*filters: Any) -> str:
    return hashlib.sha256(json.dumps(filters, default=str).encode()).hexdigest()[:16]


def encode_token(after: Any, digest: str) -> str:
    raw = json.dumps({"v": 1, "after": after, "f": digest}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, digest: str, method: str,
                 valid: Callable[[Any], bool] = lambda a: isinstance(a, int) and a >= 0) -> Any:
    """The position in ``token``; INVALID_ARGUMENT (field page_token) for anything else."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = doc["after"]
        ok = doc.get("v") == 1 and valid(after)
    except Exception:  # noqa: BLE001 - any garbage is the caller's error
        ok = False
    if not ok:
        raise InvalidArgument(f"page_token is not a token returned by {method}", field="page_token")
    if doc.get("f") != digest:
        raise InvalidArgument("page_token was issued for different filters; repeat the "
                              "filters of the first call or start without a token",
                              field="page_token")
    return after
