"""The RPC client reads the environment's HTTP settings once, when it is made: requests
with ``trust_env`` re-read them (netrc, proxy variables) on every call, a cost paid by
every chain read. The settings themselves still apply: a proxy variable is honoured."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
import requests

from chains.evm import RpcClient
from devnet import free_ports


class _Rpc(http.server.BaseHTTPRequestHandler):
    """Answers every POST with ``"0x1"`` and records the request line it got."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(self.requestline)
        body = b'{"jsonrpc":"2.0","id":1,"result":"0x1"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Rpc)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Rpc.seen = []
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_calls_do_not_read_the_environment_again(server, monkeypatch):
    rpc = RpcClient([server])
    lookups: list[str] = []
    monkeypatch.setattr(requests.sessions, "get_netrc_auth", lambda url, *a: lookups.append(url))
    monkeypatch.setattr(requests.sessions, "get_environ_proxies",
                        lambda url, *a, **k: lookups.append(url) or {})
    try:
        assert [rpc.call("eth_blockNumber") for _ in range(3)] == ["0x1"] * 3
    finally:
        rpc.close()
    assert lookups == []


def test_a_proxy_variable_is_honoured(server, monkeypatch):
    """The chain's URL is a port where nothing listens; the proxy named by http_proxy
    (the test server) answers, so the call succeeds only through it."""
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", server)
    rpc = RpcClient([dead], timeout=2)
    try:
        assert rpc.call("eth_blockNumber") == "0x1"
    finally:
        rpc.close()
    assert _Rpc.seen and _Rpc.seen[0].startswith(f"POST {dead}")
