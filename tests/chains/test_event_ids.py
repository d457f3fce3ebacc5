"""chain_event ids only grow, also after the newest rows are deleted (a reorg): the book's
cursor and the "evidence row gone" check after a reorg both rely on it."""

from __future__ import annotations

from actors.evm import MIGRATION, MIGRATIONS, ChainEvent
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
