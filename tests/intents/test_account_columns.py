"""Intent rows hold a Solana destination's accounts and evidence (migration 0360): a base58
recipient or mint (44 characters) and a Solana signature (88). On PostgreSQL the columns of
a database made before 0360 are widened in place, keeping their rows."""

from __future__ import annotations

from actors.book import MIGRATIONS, IntentRow, IntentTransition
from runtime.store import Store

MINT = "444YucPLqi6FUoEiUw7Dveb3RDfZzPAazdJSATSAkfcT"
WALLET = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
SIGNATURE = "5" + "j" * 87


def _row(i: int, **kw) -> dict:
    return {"id": f"0x{i:064x}", "status": "OPENED", "version": 1, "user": "0x" + "11" * 20,
            "nonce": i, "origin_chain": "a", "origin_chain_id": 1, "destination_chain": "sol",
            "destination_chain_id": 900, "origin_settler": "0x" + "22" * 20,
            "input_token": "0x" + "33" * 20, "input_amount": 10, "output_token": MINT,
            "min_output": 9, "recipient": WALLET, "open_deadline": 1, "fill_deadline": 2,
            "source": "gasless", "created_at": 0.0, "updated_at": 0.0} | kw


def test_solana_accounts_and_signatures_fit(database_url, tmp_path):
    store = Store(database_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    store.migrate()
    with store.connection():
        IntentRow.insert(**_row(1, fill_tx=SIGNATURE)).execute()
        IntentTransition.insert(intent=f"0x{1:064x}", version=2, from_status="OPENED",
                                status="FILLED", at=0.0, reason="", tx_hash=SIGNATURE).execute()
        row = IntentRow.get_by_id(f"0x{1:064x}")
        t = IntentTransition.get(IntentTransition.intent == row.id)
    assert (row.recipient, row.output_token, row.fill_tx, t.tx_hash) == (WALLET, MINT, SIGNATURE,
                                                                          SIGNATURE)
    store.close()


def test_postgres_columns_made_before_0360_are_widened_with_their_rows(pg_url, tmp_path):
    before = [m for m in MIGRATIONS if m.id < "0360"]
    old = Store(pg_url, state_dir=str(tmp_path), migrations=before)
    old.migrate()
    with old.connection() as db:
        db.execute_sql('ALTER TABLE "intent" ALTER COLUMN "recipient" TYPE varchar(42)')
        IntentRow.insert(**_row(1, recipient="0x" + "44" * 20, output_token="0x" + "55" * 20)).execute()
    old.close()
    store = Store(pg_url, state_dir=str(tmp_path), migrations=MIGRATIONS)
    assert "0360_intent_solana_accounts" in store.migrate()
    with store.connection() as db:
        IntentRow.insert(**_row(2, fill_tx=SIGNATURE)).execute()
        sizes = dict(db.execute_sql(
            "SELECT table_name || '.' || column_name, character_maximum_length FROM "
            "information_schema.columns WHERE (table_name, column_name) IN (('intent', "
            "'recipient'), ('intent', 'output_token'), ('intent', 'fill_tx'), "
            "('intent_transition', 'tx_hash'))").fetchall())
        assert IntentRow.get_by_id(f"0x{1:064x}").recipient == "0x" + "44" * 20
    assert sizes == {"intent.recipient": 44, "intent.output_token": 44, "intent.fill_tx": 88,
                     "intent_transition.tx_hash": 88}
    store.close()
