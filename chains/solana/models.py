"""Store tables of the Solana chain watchers and their migrations (``0230_solana_cursor``,
``0231_solana_transfer``, in the chain watchers' range 0200-0249), and the Solana
transaction sender's table ``solana_tx`` (``0235_solana_tx``, registered by the kinds
that send, as ``evm_tx``).

``solana_cursor``: one row per Solana chain, the last slot the watcher has processed at its
commitment and ``signature``, the last transaction indexed (signatures are paged newest
first, so a restart asks for those ``until`` it: no gap, no duplicate, even inside a slot).

``solana_transfer``: the SPL transfers indexed, one row per transfer instruction, unique on
(chain, signature, ix): committed in the same transaction as the cursor, and inserted with
``ON CONFLICT DO NOTHING`` so a replay cannot duplicate one.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from typing import Any

import peewee

from runtime.store import BaseModel, Migration, UInt256Field

__all__ = ["SolanaCursor", "SolanaTransfer", "MIGRATION", "MIGRATIONS", "insert_transfers",
           "SolanaTx", "TX_MIGRATION", "TX_PENDING", "TX_LANDED", "TX_FAILED", "TX_EXPIRED",
           "TX_FINAL"]


class SolanaCursor(BaseModel):
    chain = peewee.CharField(max_length=64, primary_key=True)
    slot = peewee.BigIntegerField()                       # last processed slot
    signature = peewee.CharField(max_length=88, default="")
    commitment = peewee.CharField(max_length=16)          # the level ``slot`` was read at
    head = peewee.BigIntegerField(default=0)              # processed slot at the last commit
    updated_at = peewee.DoubleField()


class SolanaTransfer(BaseModel):
    """An SPL transfer into a token account of a configured mint, at the chain's commitment."""

    id = peewee.AutoField()       # peewee's implicit key, named: insertion order within a slot
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


_COLUMNS = ("chain", "signature", "ix", "slot", "mint", "source", "destination",
            "source_owner", "destination_owner", "amount", "memo", "order_id", "block_time")
_MAX_ROWS_PER_STATEMENT = 500


def _rows_per_statement(db: peewee.Database) -> int:
    """Rows per statement within SQLite's bound-parameter limit (32766 since 3.32, 999
    before); 500 at most, as the EVM watcher's inserts (larger statements gain nothing)."""
    if not isinstance(db, peewee.SqliteDatabase):
        return _MAX_ROWS_PER_STATEMENT
    try:
        limit = db.connection().getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except (AttributeError, sqlite3.Error):   # Python < 3.11: assume the old default
        limit = 999
    return max(1, min(limit // len(_COLUMNS), _MAX_ROWS_PER_STATEMENT))


def insert_transfers(db: peewee.Database, chain: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (the fields of :class:`chains.solana.Transfer`) for ``chain``, a
    duplicate (chain, signature, ix) ignored, inside the caller's transaction.

    Multi-row ``VALUES`` on the DB-API cursor rather than one peewee query per row: building
    each query in Python cost more than everything else of a tick (measured by the Solana
    ingest benchmark: 2,000 transfers, ~0.3-0.5 s per-row on SQLite and ~1 s on PostgreSQL
    against ~0.02 s and ~0.1 s this way). ``ON CONFLICT DO NOTHING`` is SQLite's and
    PostgreSQL's both."""
    if not rows:
        return
    amount = SolanaTransfer._meta.fields["amount"]    # exact: a decimal string / numeric
    values = [(chain, r["signature"], r["ix"], r["slot"], r["mint"], r["source"],
               r["destination"], r["source_owner"], r["destination_owner"],
               amount.db_value(r["amount"]), r["memo"], r["order_id"], r["block_time"])
              for r in rows]
    table = SolanaTransfer._meta.table_name
    head = f"INSERT INTO {table} ({', '.join(_COLUMNS)}) VALUES "
    one = "(" + ",".join([db.param] * len(_COLUMNS)) + ")"
    per = _rows_per_statement(db)
    cursor = db.cursor()
    for i in range(0, len(values), per):
        chunk = values[i:i + per]
        cursor.execute(head + ",".join([one] * len(chunk)) + " ON CONFLICT DO NOTHING",
                       list(itertools.chain.from_iterable(chunk)))


def _migrate_0230(db: peewee.Database) -> None:
    db.create_tables([SolanaCursor])


def _migrate_0231(db: peewee.Database) -> None:
    db.create_tables([SolanaTransfer])


MIGRATION = Migration("0230_solana_cursor", _migrate_0230)
MIGRATIONS = [MIGRATION, Migration("0231_solana_transfer", _migrate_0231)]


# ---- the Solana transaction sender's table (chains.solana.txsend) ------------------------
TX_PENDING = "pending"      # recorded; sent (sent_at) or not yet; its signature has no status
TX_LANDED = "landed"        # its signature has a successful status at the sender's commitment
TX_FAILED = "failed"        # landed with an error (fee paid, nothing else moved), or refused
                            # by every node until its blockhash expired: never landed
TX_EXPIRED = "expired"      # proven never landed (blockhash expired, no status): rebuilt as
                            # a new row (``replaces`` = this one) with a new blockhash
TX_FINAL = frozenset({TX_LANDED, TX_FAILED, TX_EXPIRED})


class SolanaTx(BaseModel):
    """One signed Solana transaction, recorded (signature, wire bytes, blockhash and
    lastValidBlockHeight) in a committed database transaction BEFORE it is sent."""

    id = peewee.BigAutoField()
    chain = peewee.CharField(max_length=64)                 # config name
    payer = peewee.CharField(max_length=44)                 # fee payer and signer, base58
    owner = peewee.CharField(max_length=200)                # actor path, e.g. funding/sol-a
    purpose = peewee.CharField(max_length=64, default="")
    reference = peewee.CharField(max_length=200, default="")  # the owner's id of the need
    signature = peewee.CharField(max_length=88, unique=True)
    wire = peewee.TextField()                               # base64 of the signed bytes
    blockhash = peewee.CharField(max_length=44)
    last_valid_height = peewee.BigIntegerField()            # lastValidBlockHeight
    replaces = peewee.BigIntegerField(null=True)            # the expired row it rebuilds
    status = peewee.CharField(max_length=16, default=TX_PENDING)
    created_at = peewee.DoubleField()
    sent_at = peewee.DoubleField(null=True)                 # first send a node accepted
    finished_at = peewee.DoubleField(null=True)
    slot = peewee.BigIntegerField(null=True)                # where it landed
    error = peewee.TextField(default="")

    class Meta:
        table_name = "solana_tx"
        indexes = ((("chain", "owner", "status"), False), (("reference",), False))

    @property
    def tx_hash(self) -> str:
        """The transaction's id under the name the owners of EVM rows use."""
        return str(self.signature)


def _migrate_0235(db: peewee.Database) -> None:
    db.create_tables([SolanaTx])


TX_MIGRATION = Migration("0235_solana_tx", _migrate_0235)
