"""The rebalance tables and their migration (``0600_rebalance``).

``rebalance_move`` is the journal of every move, written BEFORE anything is sent: a move
exists as ``planned`` (with the amount and the two chains) before its approve/deposit
transactions are recorded by the sender, so a crash anywhere leaves a row that the next
start picks up and follows instead of planning a new one. A move is *in flight* while its
status is planned, deposited or stuck (a stuck move may still be released: the relayer
might only be late); while one is in flight the strategy starts nothing else.

Statuses: ``planned`` (recorded; deposit being sent) -> ``deposited`` (the watcher of the
source chain indexed our BridgeDeposit; ``deposit_id`` known) -> ``released`` (the watcher
of the destination indexed the BridgeRelease of that id) | ``stuck`` (past
``move_timeout``; still followed) | ``failed`` (the deposit reverted or could not be
sent); ``dry_run`` rows are plans of a dry-run strategy, never sent.
"""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration, UInt256Field

__all__ = ["RebalanceMove", "MIGRATION", "IN_FLIGHT", "PLANNED", "DEPOSITED", "RELEASED",
           "STUCK", "FAILED", "DRY_RUN"]

PLANNED, DEPOSITED, RELEASED, STUCK, FAILED, DRY_RUN = (
    "planned", "deposited", "released", "stuck", "failed", "dry_run")
IN_FLIGHT = (PLANNED, DEPOSITED, STUCK)


class RebalanceMove(BaseModel):
    id = peewee.CharField(max_length=100, primary_key=True)    # "<strategy>-<16 hex>"
    strategy = peewee.CharField(max_length=64)
    token = peewee.CharField(max_length=16)
    from_chain = peewee.CharField(max_length=64)
    to_chain = peewee.CharField(max_length=64)
    amount = UInt256Field()                                      # base units
    sender = peewee.CharField(max_length=42)                     # inventory address
    status = peewee.CharField(max_length=16)
    reason = peewee.TextField(default="")                        # why planned / failed
    deposit_tx = peewee.CharField(max_length=66, default="")     # mined deposit tx hash
    deposit_id = peewee.CharField(max_length=66, default="")     # bridge depositId
    release_tx = peewee.CharField(max_length=66, default="")
    alerted = peewee.BooleanField(default=False)                 # stuck alert raised
    created_at = peewee.DoubleField()                            # wall seconds
    deposited_at = peewee.DoubleField(null=True)
    finished_at = peewee.DoubleField(null=True)
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "rebalance_move"
        indexes = ((("strategy", "status"), False), (("strategy", "created_at"), False))


def _migrate_0600(db: peewee.Database) -> None:
    db.create_tables([RebalanceMove])


MIGRATION = Migration("0600_rebalance", _migrate_0600)
