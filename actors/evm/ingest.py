"""Raw logs to ``chain_event`` rows, fast: word-slicing decoder and batched inserts.

The backfill is bound by per-log Python work, not by the RPC or the database, so this
path avoids eth_abi's generic decoder (for all-static events) and peewee's per-row query
building. Pure functions of logs and a database handle: benchmarked on their own by
``bench/bench_ingest.py`` and checked against :mod:`protocol.events` by
``tests/chains/test_decode.py``.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import sqlite3
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


# Row builders: for the all-static events, the ``args`` JSON is built straight from the hex
# words (same text as ``json.dumps(to_json(args), separators=(",", ":"))``: every value is
# an ASCII hex/decimal string or a bool), skipping the decoded dict, to_json and the
# encoder; other events (Open) and non-string logs take the generic path in event_rows.
# Each builder is generated once per event as straight-line code (as dataclasses and
# namedtuple do; names come from the static specs of protocol.events): a loop over the
# fields per log cost ~1.6x as much, and this is the backfill's hottest Python code
# (tests/chains/test_decode.py checks it against the generic path and the decoder).
@lru_cache(maxsize=8192)
def _j_address(w: str) -> str:
    return '"' + _checksum("0x" + w[24:].lower()) + '"'


def _j_bytes32(w: str) -> str:
    bytes.fromhex(w)  # validates like the decoder does
    return '"0x' + w.lower() + '"'


def _j_bool(w: str) -> str:
    return "true" if int(w[-2:], 16) == 1 else "false"


def _j_int(w: str) -> str:
    v = int(w, 16)
    return '"' + str(v - (1 << 256) if v >> 255 else v) + '"'


def _json_expr(typ: str, w: str) -> str:
    """Source of an f-string field giving the JSON text of word ``w`` (``to_json`` of the
    decoded value); unsigned integers inline (the commonest), the rest call a helper."""
    if typ in ("address", "bytes32", "bool"):
        return "{_j_" + typ + "(" + w + ")}"
    return "{_j_int(" + w + ")}" if typ.startswith("int") else '"{int(' + w + ', 16)}"'


def _row_builder(plan: tuple | None):
    """``build(chain, lg, topics, data) -> row``, or None if a topic is not a str (the
    caller then takes the generic path); ValueError on a malformed log."""
    if plan is None:
        return None
    name, indexed, plain, order = plan
    words = [(n, t, f"t[{k + 1}][2:]") for k, (n, t) in enumerate(indexed)]
    words += [(n, t, f"d[{2 + 64 * k}:{66 + 64 * k}]") for k, (n, t) in enumerate(plain)]
    var = {n: (t, f"w{k}") for k, (n, t, _) in enumerate(words)}
    key = "orderId" if "orderId" in var else "depositId" if "depositId" in var else None
    key_expr = ('"0x" + ' + var[key][1] + ".lower()"
                if key is not None and var[key][0] == "bytes32" else "None")
    fields = ",".join(f'"{n}":' + _json_expr(*var[n]) for n in order)
    lines = ["def build(chain, lg, t, d):",
             f"    if len(t) != {1 + len(indexed)} or len(d) != {2 + 64 * len(plain)}:",
             "        raise ValueError(bad)"]
    lines += [f"    if type(t[{k + 1}]) is not str: return None" for k in range(len(indexed))]
    lines += [f"    if len(t[{k + 1}]) != 66: raise ValueError(bad)" for k in range(len(indexed))]
    lines += [f"    w{k} = {expr}" for k, (_, _, expr) in enumerate(words)]
    lines += ["    n, i = lg['blockNumber'], lg['logIndex']",
              "    return (chain, int(n, 16) if type(n) is str else int(n),",
              "            lg['blockHash'].lower(), lg['transactionHash'].lower(),",
              "            int(i, 16) if type(i) is str else int(i),",
              f"            lg['address'].lower(), {name!r}, {key_expr},",
              f"            f'{{{{{fields}}}}}')"]
    scope = {"_j_address": _j_address, "_j_bytes32": _j_bytes32, "_j_bool": _j_bool,
             "_j_int": _j_int, "bad": f"{name}: malformed log"}
    exec(compile("\n".join(lines) + "\n", f"<chain_event row builder {name}>", "exec"),  # noqa: S102
         scope)
    return scope["build"]


_ROWS = {topic: _row_builder(plan) for topic, plan in _FAST.items()}


def event_rows(chain: str, logs: list[dict]) -> list[tuple]:
    """Rows for ``chain_event`` (tuples in ``_COLUMNS`` order) of the known events."""
    rows = []
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for lg in logs:
        if lg.get("removed"):
            continue
        topics, data = lg.get("topics"), lg.get("data")
        if topics and type(data) is str and type(topics[0]) is str:
            build = _ROWS.get(topics[0].lower(), False)
            if build is False:
                continue  # unknown topic
            if build is not None:
                row = build(chain, lg, topics, data)
                if row is not None:
                    rows.append(row)
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
    """Batched insert, duplicates ignored, on the raw DB-API cursor: peewee's per-row query
    building would cost more than the database does. SQLite gets multi-row ``VALUES``
    statements rather than ``executemany``: ~10 % faster, and above all each statement is
    ONE ``sqlite3_step`` run without the GIL, where executemany hands the GIL back and
    forth per row and stalls behind any busy Python thread (the watcher's fetch thread
    parses the next range meanwhile). PostgreSQL: COPY, see :func:`_insert_postgres`."""
    if not rows:
        return
    table = ChainEvent._meta.table_name
    cols = ", ".join(_COLUMNS)
    if isinstance(db, peewee.PostgresqlDatabase):
        _insert_postgres(db, table, cols, rows)
        return
    cursor = db.cursor()
    per = _sqlite_rows_per_statement(db)
    head = f"INSERT OR IGNORE INTO {table} ({cols}) VALUES "
    one = "(" + ",".join("?" * len(_COLUMNS)) + ")"
    full = head + ",".join([one] * per)
    for i in range(0, len(rows), per):
        chunk = rows[i:i + per]
        sql = full if len(chunk) == per else head + ",".join([one] * len(chunk))
        cursor.execute(sql, list(itertools.chain.from_iterable(chunk)))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(rows: list[tuple]) -> io.StringIO:
    """Rows in COPY's text format (tab-separated, ``\\N`` for NULL, escaped)."""
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(["\\N" if v is None else str(v).translate(_COPY_ESCAPES)
                             for v in row]))
        buf.write("\n")
    buf.seek(0)
    return buf


def _insert_postgres(db: peewee.Database, table: str, cols: str, rows: list[tuple]) -> None:
    """COPY into a session temp table, then one ``INSERT ... SELECT ... ON CONFLICT DO
    NOTHING``: half the time of ``execute_values`` (whose per-row mogrify in Python and
    per-row parsing on the server dominate; measured 10k events: 300 ms -> 150 ms)."""
    cursor = db.cursor()
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}_in ON COMMIT DELETE ROWS AS "
                   f"SELECT {cols} FROM {table} WITH NO DATA")
    cursor.execute(f"TRUNCATE {table}_in")   # rows of an earlier call in this transaction
    cursor.copy_expert(f"COPY {table}_in ({cols}) FROM STDIN", _copy_text(rows))
    cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {table}_in "
                   "ORDER BY block_number, log_index ON CONFLICT DO NOTHING")


def _sqlite_rows_per_statement(db: peewee.Database) -> int:
    """Rows per statement within SQLite's bound-parameter limit (32766 since 3.32, 999
    before), capped so a statement stays a few hundred kB."""
    try:
        limit = db.connection().getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except (AttributeError, sqlite3.Error):   # Python < 3.11: assume the old default
        limit = 999
    return max(1, min(limit // len(_COLUMNS), 2000))
