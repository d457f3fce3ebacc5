"""Tables of the funding accounts and their migration (``0500_funding``).

- ``funding_topup``: one row per *need* (a top-up decided), written in a committed
  transaction BEFORE anything is signed or sent. Its id is the ``reference`` of the
  ``evm_tx`` rows (:mod:`chains.evm.txsend`) that carry it, so after a crash at any point
  the actor finds what was already done for a need instead of doing it again: no tx row
  -> send it now (the balance is checked again first); a tx row -> follow that one.
  The daily cap counts the rows of the last 24 h that may move (or moved) funds.
- ``funding_account``: the last state each actor saw (balances, state, error), so
  ``ListFundingAccounts`` can answer from the store when an actor is down.

``0510_funding_solana`` widens the address columns to 44 characters (base58 Solana keys)
and ``tx_hash`` to 88 (a Solana signature, base58 of 64 bytes) on PostgreSQL (SQLite does
not enforce VARCHAR lengths). A Solana need's transactions are ``solana_tx`` rows
(:mod:`chains.solana.txsend`) with its reference, as an EVM need's are ``evm_tx`` rows.
"""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration, UInt256Field

__all__ = ["TopUpRow", "AccountRow", "MODELS", "MIGRATION", "MIGRATIONS", "NEED_RECORDED", "NEED_SENT",
           "NEED_CONFIRMED", "NEED_FAILED", "NEED_CANCELLED", "OPEN", "COUNTED", "DAY",
           "used_today", "recent"]

NEED_RECORDED = "recorded"      # decided and recorded; no transaction known yet
NEED_SENT = "sent"              # its transaction is pending
NEED_CONFIRMED = "confirmed"    # its transaction was mined (status 1)
NEED_FAILED = "failed"          # refused, reverted or dropped: no funds moved
NEED_CANCELLED = "cancelled"    # found unsent after a restart, balance no longer low
OPEN = (NEED_RECORDED, NEED_SENT)
COUNTED = (NEED_RECORDED, NEED_SENT, NEED_CONFIRMED)    # against the daily cap


class TopUpRow(BaseModel):
    id = peewee.BigAutoField()
    account = peewee.CharField(max_length=64)               # config name
    chain = peewee.CharField(max_length=64)
    address = peewee.CharField(max_length=44)
    asset = peewee.CharField(max_length=64)
    amount = UInt256Field()
    balance_before = UInt256Field()
    status = peewee.CharField(max_length=16, default=NEED_RECORDED)
    tx_hash = peewee.CharField(max_length=88, default="")   # EVM hash or Solana signature
    reason = peewee.TextField(default="")
    created_at = peewee.DoubleField()                       # wall seconds (node clock)
    sent_at = peewee.DoubleField(null=True)
    confirmed_at = peewee.DoubleField(null=True)
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "funding_topup"
        indexes = ((("account", "created_at"), False), (("account", "status"), False))

    @property
    def reference(self) -> str:
        return f"topup-{self.id}"


class AccountRow(BaseModel):
    name = peewee.CharField(max_length=64, primary_key=True)
    chain = peewee.CharField(max_length=64)
    address = peewee.CharField(max_length=44)
    asset = peewee.CharField(max_length=64)
    source = peewee.CharField(max_length=44, default="")
    balance = UInt256Field(null=True)
    source_balance = UInt256Field(null=True)
    state = peewee.CharField(max_length=16, default="")
    last_error = peewee.TextField(default="")
    alerts = peewee.TextField(default="")                   # comma list, firing (raised here)
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "funding_account"


MODELS = [TopUpRow, AccountRow]

DAY = 86_400.0


def used_today(account: str, now: float) -> int:
    """Amount of the top-ups of the rolling 24 h before ``now`` that may move funds."""
    rows = TopUpRow.select(TopUpRow.amount).where(
        (TopUpRow.account == account) & (TopUpRow.status.in_(COUNTED))
        & (TopUpRow.created_at > now - DAY))
    return sum(r.amount for r in rows)


def recent(account: str, limit: int) -> list[TopUpRow]:
    return list(TopUpRow.select().where(TopUpRow.account == account)
                .order_by(TopUpRow.id.desc()).limit(limit))


def _migrate_0500(db: peewee.Database) -> None:
    db.create_tables(MODELS)


def _migrate_0510(db: peewee.Database) -> None:
    if isinstance(db, peewee.PostgresqlDatabase):
        for table, column, size in (("funding_topup", "address", 44),
                                    ("funding_topup", "tx_hash", 88),
                                    ("funding_account", "address", 44),
                                    ("funding_account", "source", 44)):
            db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR({size})')


MIGRATION = Migration("0500_funding", _migrate_0500)
MIGRATIONS = [MIGRATION, Migration("0510_funding_solana", _migrate_0510)]
