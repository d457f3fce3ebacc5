"""chain_event ids only grow, also after the newest rows are deleted (a reorg): the book's
cursor and the "evidence row gone" check after a reorg both rely on it."""

from __future__ import annotations

from chains.evm import MIGRATION, MIGRATIONS, ChainEvent
from runtime.store import Store


def _event(n: int) -> dict:
    return {"chain": "x", "block_number": n, "block_hash": f"0x{n:064x}", "tx_hash": "0x" + "00" * 32,
            "log_index": 0, "address": "0x" + "11" * 20, "name": "Open", "order_id": None, "args": "{}"}


def test_ids_are_never_reused_after_deleting_the_newest(database_url, tmp_path):
    store = Store(database_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    store.migrate()
    with store.connection():
        ids = [ChainEvent.insert(**_event(n)).execute() for n in (1, 2, 3)]
        ChainEvent.delete().where(ChainEvent.id == ids[-1]).execute()
        again = ChainEvent.insert(**_event(4)).execute()
    assert again > ids[-1]
    store.close()


def test_an_old_sqlite_table_is_rebuilt_with_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    old = Store(url, state_dir=str(tmp_path), migrations=[MIGRATION])   # as before 0210
    old.migrate()
    with old.connection():
        ChainEvent.insert_many([_event(n) for n in (1, 2)]).execute()
    old.close()
    store = Store(url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    assert "0210_chain_event_ids_never_reused" in store.migrate()
    with store.connection() as db:
        assert [e.block_number for e in ChainEvent.select().order_by(ChainEvent.id)] == [1, 2]
        ChainEvent.delete().where(ChainEvent.block_number == 2).execute()
        assert ChainEvent.insert(**_event(3)).execute() == 3
        names = {r[0] for r in db.execute_sql("SELECT name FROM sqlite_master WHERE tbl_name='chain_event'")}
    assert "chain_event_order_id" in names
    store.close()


def test_0220_keys_events_by_position_and_keeps_the_rows(database_url, tmp_path):
    """An older schema (unique on the block hash) moves to the (chain, block, log index)
    key: rows kept, a second event at a taken position ignored, reorg queries indexed."""
    from chains.evm import insert_events
    from chains.evm.models import MIGRATION_0210
    from chains.evm.ingest import _COLUMNS
    old = Store(database_url, state_dir=str(tmp_path), migrations=[MIGRATION, MIGRATION_0210])
    old.migrate()
    with old.connection() as db:
        for name in ("chain_event_chain_block_number_log_index",):   # as 0200 made it before
            db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
        db.execute_sql('CREATE UNIQUE INDEX "chain_event_chain_block_hash_log_index" '
                       'ON "chain_event" ("chain", "block_hash", "log_index")')
        db.execute_sql('CREATE INDEX IF NOT EXISTS "chain_event_chain_block_number" '
                       'ON "chain_event" ("chain", "block_number")')
        ChainEvent.insert_many([_event(n) for n in (1, 2)]).execute()
    old.close()
    store = Store(database_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    assert "0220_chain_event_position_key" in store.migrate()
    other_hash = dict(_event(2), block_hash="0x" + "ee" * 32)
    with store.atomic() as db:
        insert_events(db, [tuple(other_hash[c] for c in _COLUMNS)])   # position 2/0 taken
    with store.connection() as db:
        assert [(e.block_number, e.block_hash) for e in ChainEvent.select().order_by(ChainEvent.id)] \
            == [(1, f"0x{1:064x}"), (2, f"0x{2:064x}")]
        names = {i.name for i in db.get_indexes("chain_event")}
    assert "chain_event_chain_block_number_log_index" in names
    assert not names & {"chain_event_chain_block_hash_log_index", "chain_event_chain_block_number"}
    store.close()
