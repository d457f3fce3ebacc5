"""The table of :mod:`chains.evm.txsend` (``evm_tx``) and its migration ``0250_evm_tx``.

One row per signed transaction, written in a committed transaction BEFORE its broadcast:
the raw bytes are what is sent (then, and again after a restart), so a transaction can be
re-sent but never re-made with another nonce. A replacement (same nonce, bumped fees) is a
new row with ``replaces`` = the row it bumps; of the rows of one nonce at most one is
mined, the others end ``replaced``.

``chains.evm`` is a library, not a kind: the kinds that send transactions (funding, rebalance...)
register :data:`MIGRATION` from their ``install(app)`` (migrations are deduplicated by id).
"""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration, UInt256Field

__all__ = ["EvmTx", "MIGRATION", "TX_PENDING", "TX_MINED", "TX_REVERTED", "TX_REPLACED",
           "TX_DROPPED", "TX_FAILED", "FINAL"]

TX_PENDING = "pending"      # recorded; broadcast when sent_at is set
TX_MINED = "mined"          # receipt, status 1
TX_REVERTED = "reverted"    # receipt, status 0
TX_REPLACED = "replaced"    # another row of the same nonce was mined
TX_DROPPED = "dropped"      # the nonce was consumed by a transaction none of ours
TX_FAILED = "failed"        # refused at its first broadcast (never in a mempool)
FINAL = frozenset({TX_MINED, TX_REVERTED, TX_REPLACED, TX_DROPPED, TX_FAILED})


class EvmTx(BaseModel):
    id = peewee.BigAutoField()
    chain = peewee.CharField(max_length=64)                 # config name
    chain_id = peewee.BigIntegerField()
    sender = peewee.CharField(max_length=42)                # checksummed
    nonce = peewee.BigIntegerField()
    owner = peewee.CharField(max_length=200)                # actor path, e.g. funding/gas-a
    purpose = peewee.CharField(max_length=64, default="")   # e.g. "top-up"
    reference = peewee.CharField(max_length=200, default="")  # the owner's id of the need
    to = peewee.CharField(max_length=42)
    value = UInt256Field()
    data = peewee.TextField(default="0x")
    gas_limit = peewee.BigIntegerField()
    max_fee = UInt256Field()
    priority_fee = UInt256Field()
    tx_hash = peewee.CharField(max_length=66, unique=True)
    raw_tx = peewee.TextField()                             # 0x hex of the signed bytes
    replaces = peewee.BigIntegerField(null=True)            # id of the row it bumps
    status = peewee.CharField(max_length=16, default=TX_PENDING)
    created_at = peewee.DoubleField()                       # sender clock (wall seconds)
    sent_at = peewee.DoubleField(null=True)                 # first accepted broadcast
    finished_at = peewee.DoubleField(null=True)
    block_number = peewee.BigIntegerField(null=True)
    gas_used = peewee.BigIntegerField(null=True)
    error = peewee.TextField(default="")

    class Meta:
        table_name = "evm_tx"
        indexes = ((("chain", "sender", "status"), False), (("owner", "status"), False),
                   (("reference",), False))


def _migrate_0250(db: peewee.Database) -> None:
    db.create_tables([EvmTx])


MIGRATION = Migration("0250_evm_tx", _migrate_0250)
