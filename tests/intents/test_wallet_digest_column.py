"""``intent.wallet_digest`` (migration 0370): the digest a contract wallet approved at
submission, nullable (orders signed by a key have none). A database made before 0370 gets
the column, keeps its rows (their digest None), and a second run changes nothing. SQLite
and PostgreSQL."""

from __future__ import annotations

from actors.book import MIGRATIONS, IntentRow
from runtime.store import Store

DIGEST = "0x" + "ab" * 32


def _row(i: int, **kw) -> dict:
    return {"id": f"0x{i:064x}", "status": "PENDING", "version": 1, "user": "0x" + "11" * 20,
            "nonce": i, "origin_chain": "a", "origin_chain_id": 1, "destination_chain": "b",
            "destination_chain_id": 2, "origin_settler": "0x" + "22" * 20,
            "input_token": "0x" + "33" * 20, "input_amount": 10, "output_token": "0x" + "44" * 20,
            "min_output": 9, "recipient": "0x" + "55" * 20, "open_deadline": 1,
            "fill_deadline": 2, "source": "gasless", "created_at": 0.0, "updated_at": 0.0} | kw


def test_the_column_is_added_to_a_database_made_before_0370(database_url, tmp_path):
    before = [m for m in MIGRATIONS if m.id < "0370"]
    old = Store(database_url, state_dir=str(tmp_path), migrations=before)
    old.migrate()
    with old.connection() as db:
        IntentRow.insert(**_row(1)).execute()
        # the tables of 0300 are made from today's model: take the column away, as it was
        db.execute_sql('ALTER TABLE "intent" DROP COLUMN "wallet_digest"')
        assert "wallet_digest" not in {c.name for c in db.get_columns("intent")}
    old.close()
    store = Store(database_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    assert "0370_intent_wallet_digest" in store.migrate()
    with store.connection() as db:
        col = {c.name: c for c in db.get_columns("intent")}["wallet_digest"]
        assert col.null
        IntentRow.insert(**_row(2, wallet_digest=DIGEST)).execute()
        assert IntentRow.get_by_id(f"0x{1:064x}").wallet_digest is None   # kept, no digest
        assert IntentRow.get_by_id(f"0x{2:064x}").wallet_digest == DIGEST
    assert store.migrate() == []   # applied once
    store.close()


def test_a_new_database_has_the_column(database_url, tmp_path):
    store = Store(database_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    store.migrate()
    with store.connection():
        IntentRow.insert(**_row(1)).execute()
        IntentRow.insert(**_row(2, wallet_digest=DIGEST)).execute()
        got = [r.wallet_digest for r in IntentRow.select().order_by(IntentRow.id)]
    assert got == [None, DIGEST]
    store.close()
