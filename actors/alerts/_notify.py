"""Webhook delivery: one daemon thread per alerts actor, POSTing JSON per transition.

The actor only enqueues (a bounded queue: when full the notification is dropped and
logged, never the actor blocked); the thread POSTs, and a failed POST is retried after
``backoff`` doubling up to 5 minutes, scheduled on the actor's clock (so a test on a
FakeClock drives retries by advancing it), at most ``max_attempts`` times. Nothing here
can crash the actor. URLs may carry tokens: they are never logged (only the host).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable
from urllib.parse import urlparse

from ._config import WebhookConfig, parse_duration

__all__ = ["WebhookSender"]

log = logging.getLogger("orbital.alerts")

_MAX_DELAY = 300.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_DEFAULT = urllib.request.build_opener()


@dataclass(frozen=True)
class _Delivery:
    severity: str
    cfg: WebhookConfig
    body: bytes
    attempt: int = 1


class WebhookSender:
    def __init__(self, webhooks: dict[str, WebhookConfig], clock: Any, maxsize: int,
                 on_result: Callable[[str, dict], None] | None = None) -> None:
        self.webhooks = webhooks
        self.clock = clock
        self.on_result = on_result or (lambda kind, data: None)
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, severity: str, payload: dict) -> None:
        cfg = self.webhooks.get(severity)
        if cfg is None or self._closed.is_set():
            return
        body = json.dumps(payload, default=str).encode()
        self._put(_Delivery(severity, cfg, body))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alerts-webhook",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread; deliveries still queued or waiting for a retry are dropped."""
        self._closed.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass

    def _put(self, d: _Delivery) -> None:
        if self._closed.is_set():
            return
        try:
            self._queue.put_nowait(d)
        except queue.Full:
            log.error("alert webhook queue full: notification dropped",
                      extra={"severity": d.severity, "host": _host(d.cfg.url)})
            self.on_result("webhook_dropped", {"severity": d.severity})

    def _run(self) -> None:
        while not self._closed.is_set():
            d = self._queue.get()
            if d is None:
                return
            try:
                error = _post(d)
            except Exception as exc:  # noqa: BLE001 - never let the thread die
                error = f"{type(exc).__name__}"
            data = {"severity": d.severity, "attempt": d.attempt, "host": _host(d.cfg.url)}
            if error is None:
                self.on_result("webhook_delivered", data)
                continue
            data["error"] = error
            if d.attempt >= d.cfg.max_attempts:
                log.error("alert webhook failed; giving up", extra=data)
                self.on_result("webhook_failed", data)
                continue
            delay = min(_MAX_DELAY, parse_duration(d.cfg.backoff) * 2 ** (d.attempt - 1))
            nxt = _Delivery(d.severity, d.cfg, d.body, d.attempt + 1)
            self.clock.call_later(delay, lambda nxt=nxt: self._put(nxt))
            log.warning("alert webhook failed; retrying", extra={**data, "retry_in": delay})
            self.on_result("webhook_retrying", {**data, "retry_in": delay})


def _post(d: _Delivery) -> str | None:
    """None on a 2xx answer, else a short reason (without the URL)."""
    req = urllib.request.Request(str(d.cfg.url), data=d.body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "User-Agent": "orbital-alerts"})
    # loopback never goes through an http_proxy from the environment
    opener = _DIRECT if _host(d.cfg.url) in _LOOPBACK else _DEFAULT
    try:
        with opener.open(req, timeout=d.cfg.timeout) as resp:  # noqa: S310
            resp.read(1 << 16)
            return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return f"unreachable: {type(exc.reason).__name__}"
    except (TimeoutError, OSError) as exc:
        return f"{type(exc).__name__}"


def _host(url: str) -> str:
    try:
        return urlparse(str(url)).hostname or "?"
    except ValueError:
        return "?"
