"""A solana-local server per module (in-process, free port) and a synchronous face for solana-py's
AsyncClient (solana-py 0.41 ships only the async client): ``client.get_slot()`` runs the coroutine
on the fixture's own event loop."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
from solana.rpc.async_api import AsyncClient

from devnet.solana_rpc import SolanaRpcServer, serve


class SyncClient:
    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = AsyncClient(url)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        return lambda *args, **kwargs: self._loop.run_until_complete(method(*args, **kwargs))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())
        self._loop.close()


def post(url: str, body: bytes | Any) -> Any:
    """POST a raw body (bytes) or a JSON-encodable payload; return the decoded JSON reply."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def call(url: str, method: str, *params: Any) -> dict[str, Any]:
    """One JSON-RPC call; the whole reply (``result`` or ``error``)."""
    return post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})


@pytest.fixture(scope="module")
def server() -> SolanaRpcServer:
    srv = serve("127.0.0.1", 0, slot_ms=0)  # blocks only per transaction: deterministic slots
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def client(server: SolanaRpcServer) -> SyncClient:
    c = SyncClient(server.url)
    yield c
    c.close()
