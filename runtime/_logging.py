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

__all__ = ["setup_logging", "register_secret", "redact", "JsonFormatter"]

_secrets: set[str] = set()
_lock = threading.Lock()
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def register_secret(value: str | None) -> None:
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(str(value))


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
