"""The attester's own tables and their migration (``0400_attester``).

The attester never writes the book's tables (``intent``...) nor the watcher's
(``chain_event``...): it reads them. Its transactions are rows of ``evm_tx``
(:mod:`chains.evm.txsend`, owner = the actor path, ``reference`` = ``settle:<batch id>``
or ``refund:<intent id>``), recorded before their broadcast. What it must remember on
top of them lives here:

- ``attester_batch``: one row per settle it decided to send (origin chain, order ids,
  fillers), committed BEFORE the transaction is signed; the transaction's ``reference`` is
  ``settle:<id>``, so the orders of any ``evm_tx`` row are known after a crash. ``open``
  until every transaction of it is final; then its outcome is applied to its orders and
  it is ``done``, in one database transaction (applied exactly once).
- ``attester_order``: per intent, what the attester concluded (in flight, settled,
  skipped because the escrow is no longer Opened, retry, failed with a reason, held
  because the fill fell short of the winning bid, withheld by an operator), its count of
  reverted attempts, the operator's decision on a held shortfall, and whether a FAILED
  report reached the book.
"""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration

__all__ = ["AttesterBatch", "AttesterOrder", "MODELS", "MIGRATION", "MIGRATIONS", "BATCH_OPEN",
           "BATCH_DONE",
           "settle_reference", "refund_reference"]

BATCH_OPEN = "open"         # its transaction may still be pending
BATCH_DONE = "done"         # outcome applied to its orders


def settle_reference(batch_id: int) -> str:
    return f"settle:{batch_id}"


def refund_reference(intent_id: str) -> str:
    return f"refund:{intent_id}"


class AttesterBatch(BaseModel):
    id = peewee.BigAutoField()
    chain = peewee.CharField(max_length=64)                 # origin chain (config name)
    order_ids = peewee.TextField()                          # JSON list, 0x hex
    fillers = peewee.TextField()                            # JSON list, checksummed
    fill_keys = peewee.TextField(default="[]")              # JSON list, 0x hex, per order
    gas_limit = peewee.BigIntegerField()
    status = peewee.CharField(max_length=8, default=BATCH_OPEN)
    outcome = peewee.CharField(max_length=16, default="")   # settled | reverted | unsent | lost
    tx_hash = peewee.CharField(max_length=66, default="")   # the deciding transaction
    created_at = peewee.DoubleField()                       # clock wall seconds
    updated_at = peewee.DoubleField()                       # wall time

    class Meta:
        table_name = "attester_batch"
        indexes = ((("chain", "status"), False),)

    @property
    def reference(self) -> str:
        return settle_reference(self.id)


class AttesterOrder(BaseModel):
    intent = peewee.CharField(max_length=66, primary_key=True)
    chain = peewee.CharField(max_length=64)
    # inflight | settled | skipped | failed | retry | held (shortfall, waiting for an
    # operator) | withheld (an operator refused to repay: never settled)
    status = peewee.CharField(max_length=16)
    attempts = peewee.IntegerField(default=0)               # reverted settlements
    batch = peewee.BigIntegerField(null=True)               # attester_batch.id of the last
    reason = peewee.TextField(default="")
    reported = peewee.BooleanField(default=False)           # FAILED told to the book
    decision = peewee.CharField(max_length=16, default="")  # operator: "" | repay | withhold
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "attester_order"
        indexes = ((("status",), False),)


MODELS = [AttesterBatch, AttesterOrder]


def _migrate_0400(db: peewee.Database) -> None:
    db.create_tables(MODELS)


def _migrate_0410(db: peewee.Database) -> None:
    """Fill keys per batch and the operator's decision per order (issue 10). Idempotent:
    a database made after this change got them from 0400's create_tables."""
    from playhouse.migrate import SchemaMigrator, migrate
    migrator = SchemaMigrator.from_database(db)
    ops = []
    for model, name in ((AttesterBatch, "fill_keys"), (AttesterOrder, "decision")):
        table = model._meta.table_name
        if name not in {c.name for c in db.get_columns(table)}:
            ops.append(migrator.add_column(table, name, model._meta.fields[name]))
    if ops:
        migrate(*ops)


MIGRATION = Migration("0400_attester", _migrate_0400)
MIGRATION_0410 = Migration("0410_attester_fill_keys", _migrate_0410)
MIGRATIONS = [MIGRATION, MIGRATION_0410]
