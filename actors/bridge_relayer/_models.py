"""The relayer's own table (``bridge_relay``, migration ``0610_bridge_relayer``): per deposit,
what was decided, so finished deposits are not looked at again."""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration, UInt256Field

__all__ = ["BridgeRelay", "MIGRATION", "DONE"]


class BridgeRelay(BaseModel):
    deposit_id = peewee.CharField(max_length=66, primary_key=True)
    origin_chain = peewee.CharField(max_length=64)
    dest_chain = peewee.CharField(max_length=64)
    token = peewee.CharField(max_length=42)
    amount = UInt256Field()
    recipient = peewee.CharField(max_length=42)
    status = peewee.CharField(max_length=16)   # waiting | sent | released | skipped | failed
    tx_hash = peewee.CharField(max_length=66, default="")
    attempts = peewee.IntegerField(default=0)  # reverted + refused releases
    refused = peewee.IntegerField(default=0)   # estimates that reverted (nothing sent)
    reason = peewee.TextField(default="")
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "bridge_relay"
        indexes = ((("status",), False),)


DONE = ("released", "skipped", "failed")


def _migrate_0610(db: peewee.Database) -> None:
    db.create_tables([BridgeRelay])


MIGRATION = Migration("0610_bridge_relayer", _migrate_0610)
