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

import msgspec
import peewee
from eth_utils import to_checksum_address

from protocol.events import EVENTS_BY_TOPIC, decode_log

from .models import ChainEvent
from .rpc import RpcError, _result

__all__ = ["Log", "to_json", "fast_decode", "decode_logs", "event_rows", "insert_events", "hex_int",
           "CHAIN_EVENT_LOCK_KEY"]

# The PostgreSQL advisory lock (transaction-level) that orders the commits inserting
# chain_event rows (insert_events, docs/chain-watcher.md "Commit order"). Arbitrary and
# constant across versions, like runtime/store/_migrations.py's 7_310_001, which it must
# not equal: a commit would then wait for a node's migrations (checked by a test).
CHAIN_EVENT_LOCK_KEY = 7_310_002


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


def hex_int(v: Any) -> int:
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


def _j_bool(w: str) -> str:
    return "true" if int(w[-2:], 16) == 1 else "false"


def _j_int(w: str) -> str:
    v = int(w, 16)
    return '"' + str(v - (1 << 256) if v >> 255 else v) + '"'


def _json_expr(typ: str, w: str) -> str:
    """Source of an f-string field giving the JSON text of word ``w`` (``to_json`` of the
    decoded value); unsigned integers inline (the commonest), the rest call a helper."""
    if typ == "bytes32":   # k<n>: the word lowercased (and checked) once, see _row_builder
        return '"0x{k' + w[1:] + '}"'
    if typ in ("address", "bool"):
        return "{_j_" + typ + "(" + w + ")}"
    return "{_j_int(" + w + ")}" if typ.startswith("int") else '"{int(' + w + ', 16)}"'


def _row_builder(plan: tuple | None, typed: bool = False):
    """``build(chain, lg, topics, data) -> row``, or None if a topic is not a str (the
    caller then takes the generic path); ValueError on a malformed log. ``typed``: for
    :class:`Log` values (attributes, str topics checked by the decoder) instead of dicts."""
    if plan is None:
        return None

    def field(name: str) -> str:
        return f"lg.{name}" if typed else f"lg[{name!r}]"
    name, indexed, plain, order = plan
    words = [(n, t, f"t[{k + 1}][2:]") for k, (n, t) in enumerate(indexed)]
    words += [(n, t, f"d[{2 + 64 * k}:{66 + 64 * k}]") for k, (n, t) in enumerate(plain)]
    var = {n: (t, f"w{k}") for k, (n, t, _) in enumerate(words)}
    key = "orderId" if "orderId" in var else "depositId" if "depositId" in var else None
    key_expr = ('"0x" + k' + var[key][1][1:]
                if key is not None and var[key][0] == "bytes32" else "None")
    fields = ",".join(f'"{n}":' + _json_expr(*var[n]) for n in order)
    lines = ["def build(chain, lg, t, d):",
             f"    if len(t) != {1 + len(indexed)} or len(d) != {2 + 64 * len(plain)}:",
             "        raise ValueError(bad)"]
    if not typed:
        lines += [f"    if type(t[{k + 1}]) is not str: return None"
                  for k in range(len(indexed))]
    lines += [f"    if len(t[{k + 1}]) != 66: raise ValueError(bad)" for k in range(len(indexed))]
    lines += [f"    w{k} = {expr}" for k, (_, _, expr) in enumerate(words)]
    lines += [f"    _fromhex(w{k}); k{k} = w{k}.lower()"      # fromhex validates like the decoder
              for k, (_, t, _) in enumerate(words) if t == "bytes32"]
    lines += [f"    n, i = {field('blockNumber')}, {field('logIndex')}",
              "    return (chain, int(n, 16) if type(n) is str else int(n),",
              f"            {field('blockHash')}.lower(), {field('transactionHash')}.lower(),",
              "            int(i, 16) if type(i) is str else int(i),",
              f"            {field('address')}.lower(), {name!r}, {key_expr},",
              f"            f'{{{{{fields}}}}}')"]
    scope = {"_j_address": _j_address, "_fromhex": bytes.fromhex, "_j_bool": _j_bool,
             "_j_int": _j_int, "bad": f"{name}: malformed log"}
    exec(compile("\n".join(lines) + "\n", f"<chain_event row builder {name}>", "exec"),  # noqa: S102
         scope)
    return scope["build"]


_ROWS = {topic: _row_builder(plan) for topic, plan in _FAST.items()}
_TYPED_ROWS = {topic: _row_builder(plan, typed=True) for topic, plan in _FAST.items()}


class Log(msgspec.Struct, gc=False):
    """One ``eth_getLogs`` entry, as :func:`decode_logs` types it (other keys ignored).
    ``gc=False``: it holds only strings, so the collector need not track 10,000 of them."""

    address: str
    topics: list[str]
    data: str
    blockHash: str
    blockNumber: str | int
    transactionHash: str
    logIndex: str | int
    removed: bool = False


class _LogsReply(msgspec.Struct):
    result: list[Log] | None = None
    error: Any = None


_LOGS_REPLY = msgspec.json.Decoder(_LogsReply)


def decode_logs(body: bytes) -> list[Log]:
    """The logs of a raw ``eth_getLogs`` reply, decoded straight into :class:`Log` values
    by msgspec: ~3x faster than ``json.loads`` into dicts (16 vs 44 ms for 10,000 logs,
    the backfill's largest single cost), and every field is type-checked on the way.
    RpcError for an error reply or anything that is not a list of logs."""
    try:
        reply = _LOGS_REPLY.decode(body)
    except msgspec.DecodeError as exc:   # ValidationError included
        raise RpcError(f"eth_getLogs: malformed reply ({exc})") from None
    if reply.error is not None:
        _result({"error": reply.error})   # raises the RpcError, as for any other call
    if reply.result is None:
        raise RpcError("eth_getLogs: the reply has no result")
    return reply.result


def event_rows(chain: str, logs: list) -> list[tuple]:
    """Rows for ``chain_event`` (tuples in ``_COLUMNS`` order) of the known events: of
    :class:`Log` values (the watcher) or of log dicts (JSON-RPC or web3 receipts)."""
    if logs and type(logs[0]) is Log:
        return _typed_rows(chain, logs)
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
        rows.append((chain, hex_int(lg["blockNumber"]), lg["blockHash"].lower(),
                     lg["transactionHash"].lower(), hex_int(lg["logIndex"]),
                     lg["address"].lower(), name,
                     "0x" + key.hex() if isinstance(key, bytes) else None,
                     dumps(to_json(args))))
    return rows


def _typed_rows(chain: str, logs: list[Log]) -> list[tuple]:
    rows: list[tuple] = []
    append, builders = rows.append, _TYPED_ROWS
    for lg in logs:
        if lg.removed or not lg.topics:
            continue
        topics = lg.topics
        build = builders.get(topics[0].lower(), False)
        if build is False:
            continue  # unknown topic
        if build is None:   # Open and the like: the generic path, on a dict
            rows.extend(event_rows(chain, [msgspec.structs.asdict(lg)]))
            continue
        append(build(chain, lg, topics, lg.data))
    return rows


def insert_events(db: peewee.Database, rows: list[tuple]) -> None:
    """Batched insert, duplicates ignored, on the raw DB-API cursor, inside the caller's
    transaction; the only writer of ``chain_event`` rows.

    Commit order: readers (the intent book) go through ``chain_event`` by id with a cursor,
    so a row must never become visible after a row with a higher id. SQLite has one writer
    at a time. On PostgreSQL watchers of different chains commit concurrently and ids come
    from a sequence, so before it draws an id the transaction takes the
    :data:`CHAIN_EVENT_LOCK_KEY` advisory lock, held until it commits or rolls back: ids
    are drawn, and become visible, in lock order (docs/chain-watcher.md "Commit order").
    It costs one statement per transaction, and commits of different chains run one at a
    time from the COPY on: callers insert the events last (``commit_range``), and the
    lock is taken after the COPY text is built.

    Speed: peewee's per-row query building would cost more than the database does. SQLite
    gets multi-row ``VALUES`` statements rather than ``executemany``: ~10 % faster, and
    above all each statement is ONE ``sqlite3_step`` run without the GIL, where executemany
    hands the GIL back and forth per row and stalls behind any busy Python thread (the
    watcher's fetch thread parses the next range meanwhile). PostgreSQL: COPY, see
    :func:`_insert_postgres`."""
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


def _lock_commit_order(db: peewee.Database) -> None:
    """Wait for every other transaction inserting ``chain_event`` rows to end, and keep
    them waiting until this one ends. Taken before this transaction draws its first id:
    a row is then visible only after every row with a lower id is (or was rolled back;
    readers only need that no lower id appears later, gaps are fine). This relies on the
    sequence handing out ids in call order, true with its default ``CACHE 1`` (with a
    cache, each session draws from its own block of ids)."""
    if not db.in_transaction():
        raise RuntimeError("insert_events needs a transaction: the lock is held until it ends")
    db.cursor().execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_EVENT_LOCK_KEY,))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(rows: list[tuple]) -> io.StringIO:
    """Rows in COPY's text format (tab-separated, ``\\N`` for NULL, escaped).

    Values almost never hold a character COPY escapes (numbers, hex, the JSON built from
    hex words), so the text is first joined without escaping (C-level ``map``/``join``,
    ~4x faster) and used as is when counting its tabs, newlines, backslashes and carriage
    returns proves that no value held one; otherwise it is built again value by value."""
    nulls = 0
    lines = []
    for row in rows:
        if None in row:
            nulls += sum(v is None for v in row)
            lines.append("\t".join(["\\N" if v is None else str(v) for v in row]))
        else:
            lines.append("\t".join(map(str, row)))
    lines.append("")
    text = "\n".join(lines)
    if (text.count("\t") == sum(len(r) - 1 for r in rows) and text.count("\n") == len(rows)
            and text.count("\\") == nulls and "\r" not in text):
        return io.StringIO(text)
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(["\\N" if v is None else str(v).translate(_COPY_ESCAPES)
                             for v in row]))
        buf.write("\n")
    buf.seek(0)
    return buf


def _insert_postgres(db: peewee.Database, table: str, cols: str, rows: list[tuple]) -> None:
    """COPY straight into the table, in block/log order (ids follow it), inside a
    savepoint, under the commit-order lock (:func:`_lock_commit_order`; taken before the
    savepoint, so a rollback to it keeps the lock). Duplicates never come from the watcher (it deletes everything above a fork
    before re-indexing, and commits each range once), but ``insert_events`` ignores them:
    if the COPY meets one, the savepoint is rolled back and the rows go through a session
    temp table and one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. Measured on
    10,000 events: the direct COPY ~2x faster than the temp-table path, which itself was
    half the time of ``execute_values``."""
    import psycopg2
    rows = sorted(rows, key=_position)      # linear when sorted already (getLogs order)
    text = _copy_text(rows)
    _lock_commit_order(db)                  # after the Python work, before the first id
    cursor = db.cursor()
    cursor.execute("SAVEPOINT orbital_copy")
    try:
        cursor.copy_expert(f"COPY {table} ({cols}) FROM STDIN", text)
    except psycopg2.errors.UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT orbital_copy")
    else:
        cursor.execute("RELEASE SAVEPOINT orbital_copy")
        return
    text.seek(0)
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}_in ON COMMIT DELETE ROWS AS "
                   f"SELECT {cols} FROM {table} WITH NO DATA")
    cursor.execute(f"TRUNCATE {table}_in")   # rows of an earlier call in this transaction
    cursor.copy_expert(f"COPY {table}_in ({cols}) FROM STDIN", text)
    cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {table}_in "
                   "ORDER BY block_number, log_index ON CONFLICT DO NOTHING")


def _position(row: tuple) -> tuple[int, int]:
    return row[1], row[4]


def _sqlite_rows_per_statement(db: peewee.Database) -> int:
    """Rows per statement within SQLite's bound-parameter limit (32766 since 3.32, 999
    before), capped at 500: measured on 10,000 events, 46 ms at 2,000 rows per statement,
    41 ms at 500 down to 100 (bigger statements cost more than their share to run)."""
    try:
        limit = db.connection().getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except (AttributeError, sqlite3.Error):   # Python < 3.11: assume the old default
        limit = 999
    return max(1, min(limit // len(_COLUMNS), 500))
