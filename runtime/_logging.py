"""JSON lines on stderr, one event per line, secrets redacted.

Redaction works on the finished line, so a secret cannot slip out through an exception
message or a repr: every secret the node knows (admin token, database password, signer
keys) is registered with :func:`register_secret` and replaced wherever it appears, and
``Bearer`` credentials are masked whatever their value.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from urllib.parse import urlsplit

__all__ = ["setup_logging", "register_secret", "register_url", "public_url", "redact",
           "JsonFormatter"]

_secrets: set[str] = set()
_lock = threading.Lock()
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def register_secret(value: str | None) -> None:
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(str(value))


def register_url(url: str) -> None:
    """The parts of a URL that carry credentials, registered like any secret: its userinfo
    (``user:password@``), its path and its query (providers put API keys there:
    ``https://eth.example/v2/<key>``, ``?apikey=...``)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:   # the whole userinfo (a password alone would leave the user)
        register_secret(parts.netloc.rsplit("@", 1)[0])
    if parts.path not in ("", "/"):
        register_secret(parts.path.lstrip("/"))
    register_secret(parts.query)


def public_url(url: str) -> str:
    """A URL as it may be shown (replies, tables): scheme, host and port only; ``/***`` for
    a path or query that was cut."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    return shown + ("/***" if parts.path not in ("", "/") or parts.query else "")


def redact(text: str) -> str:
    with _lock:   # a copy: another thread may register a secret meanwhile
        secrets = tuple(_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return _BEARER.sub(r"\1***", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=repr, ensure_ascii=False))


def setup_logging(level: str = "INFO", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pykka logs every actor failure itself; ours carries the path and restart count.
    logging.getLogger("pykka").setLevel(logging.CRITICAL)
