"""Store tables of the Solana chain watchers and their migrations (``0230_solana_cursor``,
``0231_solana_transfer``, in the chain watchers' range 0200-0249).

``solana_cursor``: one row per Solana chain, the last slot the watcher has processed at its
commitment and ``signature``, the last transaction indexed (signatures are paged newest
first, so a restart asks for those ``until`` it: no gap, no duplicate, even inside a slot).

``solana_transfer``: the SPL transfers indexed, one row per transfer instruction, unique on
(chain, signature, ix): committed in the same transaction as the cursor, and inserted with
``ON CONFLICT DO NOTHING`` so a replay cannot duplicate one.
"""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration, UInt256Field

__all__ = ["SolanaCursor", "SolanaTransfer", "MIGRATION", "MIGRATIONS"]


class SolanaCursor(BaseModel):
    chain = peewee.CharField(max_length=64, primary_key=True)
    slot = peewee.BigIntegerField()                       # last processed slot
    signature = peewee.CharField(max_length=88, default="")
    commitment = peewee.CharField(max_length=16)          # the level ``slot`` was read at
    head = peewee.BigIntegerField(default=0)              # processed slot at the last commit
    updated_at = peewee.DoubleField()


class SolanaTransfer(BaseModel):
    """An SPL transfer into a token account of a configured mint, at the chain's commitment."""

    chain = peewee.CharField(max_length=64)
    signature = peewee.CharField(max_length=88)
    ix = peewee.IntegerField()            # the instruction's index in the tx (inner: 1000*outer + 1 + inner)
    slot = peewee.BigIntegerField(index=True)
    mint = peewee.CharField(max_length=44)
    source = peewee.CharField(max_length=44)        # token accounts
    destination = peewee.CharField(max_length=44, index=True)
    source_owner = peewee.CharField(max_length=44, default="")
    destination_owner = peewee.CharField(max_length=44, default="")
    amount = UInt256Field()                          # raw base units (u64), exact
    memo = peewee.TextField(default="")              # the tx's Memo text; empty without one
    order_id = peewee.CharField(max_length=66, default="", index=True)  # the memo if an order id
    block_time = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "solana_transfer"
        indexes = ((("chain", "signature", "ix"), True),)


def _migrate_0230(db: peewee.Database) -> None:
    db.create_tables([SolanaCursor])


def _migrate_0231(db: peewee.Database) -> None:
    db.create_tables([SolanaTransfer])


MIGRATION = Migration("0230_solana_cursor", _migrate_0230)
MIGRATIONS = [MIGRATION, Migration("0231_solana_transfer", _migrate_0231)]
