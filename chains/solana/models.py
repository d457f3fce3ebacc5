"""Store table of the Solana chain watchers and its migration (``0230_solana_cursor``, in
the chain watchers' range 0200-0249).

One row per Solana chain: the last slot the watcher has processed at its commitment.
``signature`` is the last transaction signature indexed within that slot, kept empty until
transfers are indexed (a later step): with it, a restart will resume inside a slot without
a gap or a duplicate.
"""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration

__all__ = ["SolanaCursor", "MIGRATION", "MIGRATIONS"]


class SolanaCursor(BaseModel):
    chain = peewee.CharField(max_length=64, primary_key=True)
    slot = peewee.BigIntegerField()                       # last processed slot
    signature = peewee.CharField(max_length=88, default="")
    commitment = peewee.CharField(max_length=16)          # the level ``slot`` was read at
    head = peewee.BigIntegerField(default=0)              # processed slot at the last commit
    updated_at = peewee.DoubleField()


def _migrate_0230(db: peewee.Database) -> None:
    db.create_tables([SolanaCursor])


MIGRATION = Migration("0230_solana_cursor", _migrate_0230)
MIGRATIONS = [MIGRATION]
