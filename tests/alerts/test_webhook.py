"""Webhooks: a real http.server on loopback receives the POSTed JSON; a failing endpoint
is retried with backoff on the node's clock (a FakeClock here) and never hurts the actor."""

from __future__ import annotations

from tests._node import env_secret

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from actors import ALERTS_PATH
from actors.alerts import RaiseAlert, raise_alert, resolve_alert


class Hook:
    """Answers the statuses in ``script`` in order (then 200), records every body."""

    def __init__(self, script=()):
        self.script, self.bodies, self.got = list(script), [], threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = hook.script.pop(0) if hook.script else 200
                self.send_response(status)
                self.end_headers()
                with hook.got:
                    hook.bodies.append((self.path, self.headers["Content-Type"],
                                        json.loads(body), status))
                    hook.got.notify_all()

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret-token"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, n: int):
        with self.got:
            assert self.got.wait_for(lambda: len(self.bodies) >= n, 10), self.bodies
            return list(self.bodies)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    hooks = []

    def make(script=()):
        hooks.append(Hook(script))
        return hooks[-1]
    yield make
    for h in hooks:
        h.close()


def test_webhook_receives_firing_and_resolved(node_at, hook, caplog):
    h1 = hook()
    n = node_at(f"alerts:\n  webhooks:\n    critical: {{url: '{env_secret(h1.url)}'}}\n")
    raise_alert(n.node.registry, RaiseAlert("cap", "funding/a", "cap reached", "critical",
                                            {"chain": "devnet-a"}))
    raise_alert(n.node.registry, RaiseAlert("low", "funding/a", "low", "warning"))  # no hook
    resolve_alert(n.node.registry, "cap", "funding/a")
    bodies = h1.wait(2)
    assert [b[0] for b in bodies] == ["/hook/secret-token"] * 2
    assert {b[1] for b in bodies} == {"application/json"}
    firing, resolved = bodies[0][2], bodies[1][2]
    assert (firing["name"], firing["source"], firing["severity"], firing["state"],
            firing["message"], firing["labels"], firing["count"]) == (
        "cap", "funding/a", "critical", "firing", "cap reached", {"chain": "devnet-a"}, 1)
    assert resolved["state"] == "resolved" and resolved["resolved_at"] is not None
    n.rec.wait_for("webhook_delivered", ALERTS_PATH, count=2)
    assert "secret-token" not in caplog.text


def test_failed_webhook_is_retried_with_backoff(node_at, hook, caplog):
    h1 = hook(script=[500, 503])
    n = node_at(f"alerts:\n  webhooks:\n    warning: {{url: '{env_secret(h1.url)}', backoff: 2s, "
                f"max_attempts: 3}}\n")
    raise_alert(n.node.registry, RaiseAlert("x", "s", "m", "warning"))
    [first] = n.rec.wait_for("webhook_retrying", ALERTS_PATH)
    assert (first.data["attempt"], first.data["retry_in"], first.data["error"]) == \
        (1, 2.0, "HTTP 500")
    assert len(h1.wait(1)) == 1
    n.clock.advance(1.9)
    assert len(h1.bodies) == 1                   # not before the backoff
    n.clock.advance(0.1)
    [_, second] = n.rec.wait_for("webhook_retrying", ALERTS_PATH, count=2)
    assert (second.data["attempt"], second.data["retry_in"]) == (2, 4.0)   # doubled
    n.clock.advance(4)
    n.rec.wait_for("webhook_delivered", ALERTS_PATH, attempt=3)
    assert [b[3] for b in h1.wait(3)] == [500, 503, 200]
    assert "secret-token" not in caplog.text


def test_unreachable_webhook_gives_up_and_actor_lives(node_at, hook):
    h1 = hook()
    url = h1.url
    h1.close()                                   # nothing listens there any more
    n = node_at(f"alerts:\n  webhooks:\n    info: {{url: '{env_secret(url)}', backoff: 1s, "
                f"max_attempts: 2}}\n")
    raise_alert(n.node.registry, RaiseAlert("x", "s", "m", "info"))
    n.rec.wait_for("webhook_retrying", ALERTS_PATH)
    n.clock.advance(1)
    [failed] = n.rec.wait_for("webhook_failed", ALERTS_PATH)
    assert failed.data["attempt"] == 2 and failed.data["error"].startswith("unreachable")
    assert [a.name for a in n.list()] == ["x"]
    assert not n.rec.of("restarted", ALERTS_PATH)
