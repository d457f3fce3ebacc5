"""A minimal JSON-RPC client over HTTP, with batching.

Why not web3 here: deployment sends ~100 transactions per chain, and one HTTP batch per phase is
what makes ``devnet up`` take about a second; it also keeps the devnet's start path independent
of web3 provider and middleware versions. Loopback URLs only in practice.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

__all__ = ["Rpc", "RpcError"]


class RpcError(Exception):
    """A JSON-RPC error response, or the node not answering."""

    def __init__(self, message: str, code: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class Rpc:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._id = 0

    def _post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RpcError(f"{self.url}: {exc}") from None

    @staticmethod
    def _result(reply: dict) -> Any:
        if "error" in reply:
            err = reply["error"]
            raise RpcError(err.get("message", str(err)), err.get("code"), err.get("data"))
        return reply.get("result")

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        return self._result(self._post({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}))

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Results in call order; raises RpcError for the first failed call (naming its index)."""
        if not calls:
            return []
        first = self._id + 1
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        self._id += len(calls)
        replies = self._post(payload)
        if not isinstance(replies, list):
            raise RpcError(f"batch answered with {replies!r}")
        by_id = {r.get("id"): r for r in replies}
        results = []
        for i, (method, _) in enumerate(calls):
            reply = by_id.get(first + i)
            if reply is None:
                raise RpcError(f"batch call {i} ({method}) got no answer")
            try:
                results.append(self._result(reply))
            except RpcError as exc:
                raise RpcError(f"batch call {i} ({method}): {exc}", exc.code, exc.data) from None
        return results
