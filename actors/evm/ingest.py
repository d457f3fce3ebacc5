"""Raw logs to ``chain_event`` rows, fast: word-slicing decoder and batched inserts.

The backfill is bound by per-log Python work, not by the RPC or the database, so this
path avoids eth_abi's generic decoder (for all-static events) and peewee's per-row query
building. Pure functions of logs and a database handle: benchmarked on their own by
``bench/bench_ingest.py`` and checked against :mod:`protocol.events` by
``tests/chains/test_decode.py``.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import peewee
from eth_utils import to_checksum_address

from protocol.events import EVENTS_BY_TOPIC, decode_log

from .models import ChainEvent

__all__ = ["to_json", "fast_decode", "event_rows", "insert_events"]


def to_json(value: Any) -> Any:
    """JSON-safe form of decoded args: ints as decimal strings, bytes as 0x hex."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def _int(v: Any) -> int:
    return int(v, 16) if isinstance(v, str) else int(v)


# A fast decoder for events whose inputs are all static one-word types (every event but
# Open): slicing words is ~20x faster than eth_abi's generic decoder, which would otherwise
# bound the backfill. Open (a dynamic tuple) and anything unusual go through protocol.events.
# tests/chains/test_decode.py checks both decoders agree on every event of protocol.events.
_STATIC = re.compile(r"address|bool|bytes32|u?int\d*")


@lru_cache(maxsize=8192)
def _checksum(hex40: str) -> str:
    return to_checksum_address(hex40)


def _word(typ: str, w: bytes) -> Any:
    if typ == "address":
        return _checksum("0x" + w[12:].hex())
    if typ == "bytes32":
        return w
    if typ == "bool":
        return w[-1] == 1
    return int.from_bytes(w, "big", signed=typ.startswith("int"))


def _fast_plan(spec) -> tuple | None:
    if not all(_STATIC.fullmatch(t) for _, t, _ in spec.inputs):
        return None
    return (spec.name, tuple((n, t) for n, t, i in spec.inputs if i),
            tuple((n, t) for n, t, i in spec.inputs if not i),
            tuple(n for n, _, _ in spec.inputs))


_FAST = {topic: _fast_plan(spec) for topic, spec in EVENTS_BY_TOPIC.items()}


def fast_decode(lg: dict) -> tuple[str, dict[str, Any]] | None:
    """Same result as :func:`protocol.events.decode_log` (None for unknown topics)."""
    topics = lg.get("topics") or []
    if not topics:
        return None
    t0 = topics[0].lower() if isinstance(topics[0], str) else "0x" + bytes(topics[0]).hex()
    if t0 not in EVENTS_BY_TOPIC:
        return None
    plan = _FAST[t0]
    data = lg["data"]
    if plan is None or not isinstance(data, str) or not all(isinstance(t, str) for t in topics):
        return decode_log(lg)
    name, indexed, plain, order = plan
    raw = bytes.fromhex(data[2:])
    if len(topics) != 1 + len(indexed) or len(raw) != 32 * len(plain):
        raise ValueError(f"{name}: malformed log")
    values = {n: _word(t, bytes.fromhex(topic[2:]))
              for (n, t), topic in zip(indexed, topics[1:])}
    for k, (n, t) in enumerate(plain):
        values[n] = _word(t, raw[32 * k:32 * k + 32])
    return name, {n: values[n] for n in order}


_COLUMNS = ("chain", "block_number", "block_hash", "tx_hash", "log_index", "address", "name",
            "order_id", "args")


# Row plans: for the all-static events, the ``args`` JSON is built straight from the hex
# words (same text as ``json.dumps(to_json(args), separators=(",", ":"))``: every value is
# an ASCII hex/decimal string or a bool), skipping the decoded dict, to_json and the
# encoder; other events (Open) and non-string logs take the generic path below.
@lru_cache(maxsize=8192)
def _j_address(w: str) -> str:
    return '"' + _checksum("0x" + w[24:].lower()) + '"'


def _j_bytes32(w: str) -> str:
    bytes.fromhex(w)  # validates like the decoder does
    return '"0x' + w.lower() + '"'


def _j_bool(w: str) -> str:
    return "true" if int(w[-2:], 16) == 1 else "false"


def _j_uint(w: str) -> str:
    return '"' + str(int(w, 16)) + '"'


def _j_int(w: str) -> str:
    v = int(w, 16)
    return '"' + str(v - (1 << 256) if v >> 255 else v) + '"'


def _json_conv(typ: str):
    """JSON text of one 64-hex-digit word (``to_json`` of the decoded value)."""
    if typ in ("address", "bytes32", "bool"):
        return {"address": _j_address, "bytes32": _j_bytes32, "bool": _j_bool}[typ]
    return _j_int if typ.startswith("int") else _j_uint


def _row_plan(plan: tuple | None) -> tuple | None:
    if plan is None:
        return None
    name, indexed, plain, order = plan
    # words of a log: its indexed topics, then its data words
    where = {n: (t, k) for k, (n, t) in enumerate(indexed + plain)}
    fields = tuple((f'"{n}":', _json_conv(where[n][0]), where[n][1]) for n in order)
    key = "orderId" if "orderId" in where else "depositId" if "depositId" in where else None
    key_at = where[key][1] if key is not None and where[key][0] == "bytes32" else None
    return name, len(indexed), 2 + 64 * len(plain), fields, key_at


_ROWS = {topic: _row_plan(plan) for topic, plan in _FAST.items()}


def _fast_row(chain: str, lg: dict, topics: list, data: str, plan: tuple) -> tuple:
    name, n_indexed, data_len, fields, key_at = plan
    if len(topics) != 1 + n_indexed or len(data) != data_len:
        raise ValueError(f"{name}: malformed log")
    words = [t[2:] for t in topics[1:]]
    words += [data[k:k + 64] for k in range(2, data_len, 64)]
    if n_indexed and any(len(w) != 64 for w in words[:n_indexed]):
        raise ValueError(f"{name}: malformed log")
    args = ",".join([label + conv(words[i]) for label, conv, i in fields])
    return (chain, _int(lg["blockNumber"]), lg["blockHash"].lower(),
            lg["transactionHash"].lower(), _int(lg["logIndex"]), lg["address"].lower(), name,
            None if key_at is None else "0x" + words[key_at].lower(), "{" + args + "}")


def event_rows(chain: str, logs: list[dict]) -> list[tuple]:
    """Rows for ``chain_event`` (tuples in ``_COLUMNS`` order) of the known events."""
    rows = []
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for lg in logs:
        if lg.get("removed"):
            continue
        topics, data = lg.get("topics") or [], lg.get("data")
        if topics and type(data) is str and all([type(t) is str for t in topics]):
            plan = _ROWS.get(topics[0].lower(), False)
            if plan is False:
                continue  # unknown topic
            if plan is not None:
                rows.append(_fast_row(chain, lg, topics, data, plan))
                continue
        decoded = fast_decode(lg)
        if decoded is None:
            continue
        name, args = decoded
        key = args.get("orderId", args.get("depositId"))
        rows.append((chain, _int(lg["blockNumber"]), lg["blockHash"].lower(),
                     lg["transactionHash"].lower(), _int(lg["logIndex"]),
                     lg["address"].lower(), name,
                     "0x" + key.hex() if isinstance(key, bytes) else None,
                     dumps(to_json(args))))
    return rows


def insert_events(db: peewee.Database, rows: list[tuple]) -> None:
    """Batched insert, duplicates ignored; raw executemany/execute_values: peewee's
    per-row query building would cost more than the database does."""
    if not rows:
        return
    table = ChainEvent._meta.table_name
    cols = ", ".join(_COLUMNS)
    if isinstance(db, peewee.PostgresqlDatabase):
        from psycopg2.extras import execute_values
        execute_values(db.cursor(), f"INSERT INTO {table} ({cols}) VALUES %s "
                                    "ON CONFLICT DO NOTHING", rows, page_size=1000)
    else:
        marks = ", ".join("?" * len(_COLUMNS))
        db.cursor().executemany(f"INSERT OR IGNORE INTO {table} ({cols}) VALUES ({marks})",
                                rows)
