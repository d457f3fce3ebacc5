"""insert_events on SQLite (multi-row VALUES) and PostgreSQL (COPY + INSERT ... SELECT):
exact values back, duplicates ignored, ids in block/log order."""

from __future__ import annotations

from chains.evm import MIGRATIONS, ChainEvent, insert_events
from chains.evm.ingest import _COLUMNS
from runtime.store import Store


def _row(block: int, index: int, args: str = "{}", order_id: str | None = None) -> tuple:
    return ("ch\\a\tin", block, f"0x{block:064x}", "0x" + "ab" * 32, index, "0x" + "11" * 20,
            "BridgeDeposit", order_id, args)


def test_rows_come_back_exactly_once_in_log_order(database_url, tmp_path):
    store = Store(database_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    store.migrate()
    tricky = '{"a":"back\\\\slash \\"q\\" tab\\t nl\\n","u":"\u00e9\u2603"}'
    rows = [_row(b, i, tricky if (b, i) == (2, 1) else "{}",
                 None if i % 2 else "0x" + f"{b * 10 + i:064x}")
            for b in range(1, 6) for i in range(3)]
    rows.append(("x\r\ny", 9, "0x" + "cd" * 32, "0x" + "ef" * 32, 0, "0x" + "22" * 20, "Open",
                 None, "{}"))
    with store.atomic() as db:
        insert_events(db, rows[:7])
        insert_events(db, rows)                  # the first 7 again: ignored
    with store.atomic() as db:
        insert_events(db, rows[3:9])             # a later transaction: ignored too
    with store.connection():
        got = list(ChainEvent.select().order_by(ChainEvent.id))
    assert [tuple(getattr(e, c) for c in _COLUMNS) for e in got] == rows
    assert [e.id for e in got] == sorted(e.id for e in got)
    store.close()


def test_many_rows_span_several_statements(database_url, tmp_path):
    store = Store(database_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    store.migrate()
    rows = [_row(b, i) for b in range(1, 1001) for i in range(5)]     # 5,000 rows
    with store.atomic() as db:
        insert_events(db, rows)
    with store.connection():
        assert ChainEvent.select().count() == 5000
        last = ChainEvent.select().order_by(ChainEvent.id.desc()).first()
    assert (last.block_number, last.log_index) == (1000, 4)
    store.close()


def test_copy_text_is_the_escaped_text_whatever_the_values_hold():
    """COPY text joined without escaping is used only when it equals the escaped text."""
    import random
    from chains.evm.ingest import _COPY_ESCAPES, _copy_text
    rnd = random.Random(7)
    alphabet = ["a", "0", "x", "\\", "\t", "\n", "\r", "\\N", "é", "{", '"']

    def value():
        kind = rnd.random()
        if kind < 0.1:
            return None
        if kind < 0.3:
            return rnd.randrange(10 ** 6)
        return "".join(rnd.choice(alphabet[:3] if rnd.random() < 0.7 else alphabet)
                       for _ in range(rnd.randrange(6)))

    for _ in range(300):
        rows = [tuple(value() for _ in range(9)) for _ in range(rnd.randrange(1, 6))]
        expected = "".join("\t".join("\\N" if v is None else str(v).translate(_COPY_ESCAPES)
                                     for v in row) + "\n" for row in rows)
        assert _copy_text(rows).read() == expected
