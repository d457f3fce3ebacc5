"""insert_transfers (the Solana watcher's batched insert) on SQLite and PostgreSQL: exact
values back (a u64 amount, a memo with quotes and newlines, no block time), duplicates of
(chain, signature, ix) ignored within and across transactions, rows past one statement."""

from __future__ import annotations

from dataclasses import asdict

from chains.solana import MIGRATIONS, SolanaTransfer, Transfer, insert_transfers
from runtime.store import Store

FIELDS = [f for f in Transfer.__dataclass_fields__]


def _transfer(i: int, ix: int = 0, **kw) -> dict:
    t = Transfer(signature=f"{i:088d}", ix=ix, slot=100 + i, mint="M" * 44, source="S" * 43,
                 destination="D" * 44, source_owner="", destination_owner="O" * 32,
                 amount=2**64 - 1 - i, memo="0x" + f"{i:064x}", order_id="0x" + f"{i:064x}",
                 block_time=1_700_000_000 + i)
    return asdict(t) | kw


def _back(store) -> list[dict]:
    with store.connection():
        rows = SolanaTransfer.select().order_by(SolanaTransfer.chain, SolanaTransfer.slot,
                                                SolanaTransfer.ix)
        return [{**{f: getattr(r, f) for f in FIELDS}, "amount": int(r.amount), "chain": r.chain}
                for r in rows]


def test_exact_values_once(database_url, tmp_path):
    store = Store(database_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    store.migrate()
    odd = _transfer(3, ix=1002, memo="it's \"quoted\"\nand\ttabbed \u2603", order_id="",
                    block_time=None)
    rows = [_transfer(1), _transfer(2), odd]
    with store.atomic() as db:
        insert_transfers(db, "sol", rows[:2])
        insert_transfers(db, "sol", rows)                 # the first two again: ignored
        insert_transfers(db, "other", rows[:1])           # another chain: its own row
    with store.atomic() as db:
        insert_transfers(db, "sol", rows)                 # a later transaction: ignored
        insert_transfers(db, "sol", [])
    assert _back(store) == [{**rows[0], "chain": "other"}] + [{**r, "chain": "sol"} for r in rows]
    store.close()


def test_many_rows_span_several_statements(database_url, tmp_path):
    store = Store(database_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    store.migrate()
    rows = [_transfer(i) for i in range(1_234)]
    with store.atomic() as db:
        insert_transfers(db, "sol", rows)
    assert [r["amount"] for r in _back(store)] == [r["amount"] for r in rows]
    store.close()
