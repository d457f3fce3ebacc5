"""Store tables of the intent book and their migration (``0300_intents``).

The store is the book's memory: an intent row is its current state, ``intent_transition``
is its history (one row per version, with on-chain evidence when there is one), and
``book_cursor`` is how far the book has applied ``chain_event`` rows. Readers other than
the book (the intent service's Get/List/Watch, the attester, the keeper, analytics) read
these tables directly; only the book writes them.
"""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration, UInt256Field

__all__ = ["IntentRow", "IntentTransition", "BookCursor", "SolverRecord", "SolverMark",
           "BookRequest", "MODELS", "MIGRATION", "MIGRATION_0310", "MIGRATION_0340",
           "MIGRATION_0350", "MIGRATION_0360", "MIGRATION_0370", "MIGRATION_0390", "MIGRATION_0391", "MIGRATION_0900",
           "SubmissionCount", "AuctionRoundRow", "MIGRATIONS", "FILL_ENTRY", "SETTLE_ENTRY"]

# The history entries that date a fill and a settlement (intent_transition columns), in one
# place: the fill entry is the FILLED transition whose evidence stands (a FILLED -> FILLED
# entry records a finding, not the fill; a fill reorged away is ``reverted``), the settle
# entry the SETTLED one. ``intent.filled_at`` / ``settled_at`` are their times (set by
# write_transition, backfilled by 0391); actors.analytics indexes them (0910) word for word.
FILL_ENTRY = "status = 'FILLED' AND from_status <> 'FILLED' AND NOT reverted"
SETTLE_ENTRY = "status = 'SETTLED' AND NOT reverted"


class IntentRow(BaseModel):
    id = peewee.CharField(max_length=66, primary_key=True)     # orderId, 0x lowercase hex
    status = peewee.CharField(max_length=16)
    version = peewee.IntegerField()
    user = peewee.CharField(max_length=42)                     # checksummed
    nonce = UInt256Field(null=True)                            # None: opened on chain (not in the event)
    origin_chain = peewee.CharField(max_length=64)
    origin_chain_id = peewee.BigIntegerField()
    destination_chain = peewee.CharField(max_length=64)
    destination_chain_id = peewee.BigIntegerField()
    origin_settler = peewee.CharField(max_length=42)
    input_token = peewee.CharField(max_length=42)
    input_amount = UInt256Field()
    output_token = peewee.CharField(max_length=44)            # the destination's form: 0x or base58
    min_output = UInt256Field()
    recipient = peewee.CharField(max_length=44)               # the destination's form
    open_deadline = peewee.BigIntegerField()
    fill_deadline = peewee.BigIntegerField()
    source = peewee.CharField(max_length=16)                   # gasless | onchain
    typed_data = peewee.TextField(default="")                  # as signed (gasless only)
    signature = peewee.CharField(max_length=132, default="")
    # The digest a contract wallet (ERC-1271) approved at submission, 0x hex; None for an
    # order its user's key signed. Admission asks the wallet again before each round.
    wallet_digest = peewee.CharField(max_length=66, null=True)
    solver = peewee.CharField(max_length=42, default="")
    awarded_amount = UInt256Field(default=0)
    exclusivity_deadline = peewee.DoubleField(default=0.0)     # unix seconds
    auctions = peewee.IntegerField(default=0)                  # auctions held so far
    fill_tx = peewee.CharField(max_length=88, default="")      # evidence of FILLED (EVM tx hash or
                                                               # Solana signature), for the attester
    fill_chain = peewee.CharField(max_length=64, default="")
    fill_block = peewee.BigIntegerField(default=0)
    filler = peewee.CharField(max_length=42, default="")
    fill_amount = UInt256Field(default=0)                      # delivered by the proving fill
    shortfall = UInt256Field(default=0)                        # awarded_amount - fill_amount, if > 0
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField()
    # when the standing fill / the settlement was recorded (the FILL_ENTRY / SETTLE_ENTRY
    # entry's time; None: none stands): analytics' durations read these, not the history
    filled_at = peewee.DoubleField(null=True)
    settled_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "intent"
        indexes = (
            (("origin_chain_id", "user", "nonce"), True),   # a nonce is used once per user
            (("user", "created_at"), False),
            (("status", "created_at"), False),
        )


class IntentTransition(BaseModel):
    id = peewee.BigAutoField()
    intent = peewee.CharField(max_length=66)
    version = peewee.IntegerField()
    from_status = peewee.CharField(max_length=16, default="")   # "" for the first
    status = peewee.CharField(max_length=16)
    at = peewee.DoubleField()
    reason = peewee.TextField(default="")
    solver = peewee.CharField(max_length=42, default="")
    chain = peewee.CharField(max_length=64, default="")
    block_number = peewee.BigIntegerField(default=0)
    block_hash = peewee.CharField(max_length=66, default="")
    tx_hash = peewee.CharField(max_length=88, default="")   # EVM tx hash or Solana signature
    log_index = peewee.IntegerField(default=0)
    event_id = peewee.BigIntegerField(null=True)                # chain_event.id of the evidence
    reverted = peewee.BooleanField(default=False)               # its evidence was reorged away
    # What the entry records besides its status (actors.book._chain.FINDINGS): a conflicting
    # open, a foreign fill, a shortfall, an escrow mismatch reported by the solver; "" else.
    finding = peewee.CharField(max_length=32, default="")

    class Meta:
        table_name = "intent_transition"
        indexes = ((("intent", "version"), True), (("chain", "block_number"), False))


class BookCursor(BaseModel):
    """How far the book has applied ``chain_event`` (by id; ids only grow)."""

    name = peewee.CharField(max_length=64, primary_key=True)
    last_event_id = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "book_cursor"


class SolverRecord(BaseModel):
    """Per-solver counters (feeds the leaderboard): offers, bids, wins, fills, failures; and
    what the evidence rule found against an address: fills below the winning bid
    (``shortfalls``, counted for the filler's repayment address), fills of another
    originData than the escrow's (``foreign_fills``, same), and awards voided because the
    order was opened on chain with other terms (``voided``, counted for the winner: not its
    fault, but it was told not to fill)."""

    samples: list[float]   # response_ms decoded, while the book holds the record

    solver = peewee.CharField(max_length=42, primary_key=True)
    offers = peewee.BigIntegerField(default=0)
    bids = peewee.BigIntegerField(default=0)
    wins = peewee.BigIntegerField(default=0)
    fills = peewee.BigIntegerField(default=0)
    failures = peewee.BigIntegerField(default=0)
    shortfalls = peewee.BigIntegerField(default=0)
    foreign_fills = peewee.BigIntegerField(default=0)
    voided = peewee.BigIntegerField(default=0)
    response_ms = peewee.TextField(default="[]")   # JSON: the last 101 bid response times
    last_seen = peewee.DoubleField(default=0.0)
    # Reliability (actors.book._score): lifetime counts of the marks the window does not
    # keep, and the suspension in force (0: none).
    opens = peewee.BigIntegerField(default=0)
    declines = peewee.BigIntegerField(default=0)
    suspended_until = peewee.DoubleField(default=0.0)
    suspension_reason = peewee.TextField(default="")

    @property
    def median_response_ms(self) -> float | None:
        """Median of the recent bid response times (offer -> bid), for the leaderboard."""
        import json
        import statistics
        samples = json.loads(self.response_ms or "[]")
        return statistics.median(samples) if samples else None

    class Meta:
        table_name = "solver_record"


class SolverMark(BaseModel):
    """One event of a solver's reliability window (``actors.book._score.KINDS``: win, open,
    fade, decline, shortfall, foreign_fill, voided), one row per solver, kind and intent.
    Rows, not bucketed counters: a mark is rare next to offers and bids (at most a few per
    award), the window slides exactly, and the book reloads the window on restart. Written
    with the counters (batched), rows older than the window deleted with them."""

    id = peewee.BigAutoField()
    solver = peewee.CharField(max_length=42)
    kind = peewee.CharField(max_length=16)
    intent = peewee.CharField(max_length=66)
    at = peewee.DoubleField()

    class Meta:
        table_name = "solver_mark"
        indexes = ((("solver", "kind", "intent"), True), (("at",), False))


MODELS = [IntentRow, IntentTransition, BookCursor, SolverRecord]


def _migrate_0300(db: peewee.Database) -> None:
    db.create_tables(MODELS)


def _migrate_0310(db: peewee.Database) -> None:
    """Settlement evidence (issue 10): the fill's amount and shortfall on the intent, the
    finding of each history entry, the evidence counters of each solver. Idempotent: a
    database made after this change got the columns from 0300's create_tables already."""
    from playhouse.migrate import SchemaMigrator, migrate
    migrator = SchemaMigrator.from_database(db)
    ops = []
    for model, names in ((IntentRow, ("fill_amount", "shortfall")),
                         (IntentTransition, ("finding",)),
                         (SolverRecord, ("shortfalls", "foreign_fills", "voided"))):
        table = model._meta.table_name
        have = {c.name for c in db.get_columns(table)}
        ops += [migrator.add_column(table, n, model._meta.fields[n]) for n in names if n not in have]
    if ops:
        migrate(*ops)


def _migrate_0340(db: peewee.Database) -> None:
    """Solver reliability (issue 12): the marks of the rolling window, and the lifetime
    counts and suspension on the record. Idempotent like 0310."""
    from playhouse.migrate import SchemaMigrator, migrate
    db.create_tables([SolverMark])
    migrator = SchemaMigrator.from_database(db)
    table = SolverRecord._meta.table_name
    have = {c.name for c in db.get_columns(table)}
    ops = [migrator.add_column(table, n, SolverRecord._meta.fields[n])
           for n in ("opens", "declines", "suspended_until", "suspension_reason") if n not in have]
    if ops:
        migrate(*ops)


class BookRequest(BaseModel):
    """A request for the leading book told to a book that follows (another node leads):
    the attester's FAILED report (``kind`` "settlement_failed") when the attester of that
    chain runs on a node whose book does not lead. Any node's book writes one (a request,
    not state); the leading book applies and deletes them in its fenced transaction, woken
    by a notification, and at each take-over (docs/cluster.md)."""

    id = peewee.BigAutoField()
    kind = peewee.CharField(max_length=32)
    intent = peewee.CharField(max_length=66)
    reason = peewee.TextField()
    at = peewee.DoubleField()


def _migrate_0350(db: peewee.Database) -> None:
    db.create_tables([BookRequest])


class SubmissionCount(BaseModel):
    """Orders submitted (SubmitIntent, and each order of SubmitIntents) per hour and the
    gRPC code they were answered with ("OK": accepted). Refusals leave no intent row, so
    without this the analytics could not count them durably (the Prometheus counters
    restart at zero with the node). One row per (hour, code), added to in batches
    (actors.book._tally): a flood of refusals costs one upsert a second, not one per call."""

    hour = peewee.BigIntegerField()          # unix seconds at the start of the UTC hour
    code = peewee.CharField(max_length=32)
    count = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "submission_count"
        primary_key = peewee.CompositeKey("hour", "code")


def _migrate_0900(db: peewee.Database) -> None:
    db.create_tables([SubmissionCount])


MIGRATION = Migration("0300_intents", _migrate_0300)
MIGRATION_0310 = Migration("0310_settlement_evidence", _migrate_0310)
MIGRATION_0340 = Migration("0340_solver_reliability", _migrate_0340)
def _migrate_0360(db: peewee.Database) -> None:
    """Accounts of Solana destinations (issue 14): a base58 public key is up to 44
    characters (a recipient or an SPL mint), a Solana signature up to 88 (the fill's
    evidence). SQLite does not enforce a varchar's length; PostgreSQL widens in place
    (a longer varchar keeps every existing row, no rewrite)."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    for table, column, size in (("intent", "output_token", 44), ("intent", "recipient", 44),
                                ("intent", "fill_tx", 88), ("intent_transition", "tx_hash", 88)):
        db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE varchar({size})')


def _migrate_0370(db: peewee.Database) -> None:
    """ERC-1271 re-checks (issue 17): the digest a contract wallet approved at submission,
    so admission can ask the wallet again before each round. Nullable, no backfill: an
    intent accepted before this change is not re-asked (its settler asks at openFor).
    Idempotent like 0310."""
    from playhouse.migrate import SchemaMigrator, migrate
    have = {c.name for c in db.get_columns(IntentRow._meta.table_name)}
    if "wallet_digest" not in have:
        migrator = SchemaMigrator.from_database(db)
        migrate(migrator.add_column(IntentRow._meta.table_name, "wallet_digest",
                                    IntentRow._meta.fields["wallet_digest"]))


class AuctionRoundRow(BaseModel):
    """A closed auction round that made an award, for ExplainIntent: one row per award,
    keyed by the award's history version (the ASSIGNED entry), written in the award's
    transaction. ``bids`` is a JSON list of the kept bids (``actors.book._rounds``: the 10
    best by output plus the winner), each with its solver, amount (a decimal string: exact
    for uint256 on both databases), time and why it lost; ``bids_received`` counts every
    bid the round took, kept or not."""

    intent = peewee.CharField(max_length=66)
    version = peewee.IntegerField()            # the award's intent_transition.version
    round = peewee.IntegerField()              # 1 for the intent's first auction
    bids_received = peewee.IntegerField()
    bids = peewee.TextField(default="[]")
    closed_at = peewee.DoubleField()           # unix seconds

    class Meta:
        table_name = "auction_round"
        primary_key = peewee.CompositeKey("intent", "version")


def _migrate_0390(db: peewee.Database) -> None:
    db.create_tables([AuctionRoundRow])


MIGRATION_0350 = Migration("0350_book_requests", _migrate_0350)
MIGRATION_0360 = Migration("0360_intent_solana_accounts", _migrate_0360)
def _migrate_0391(db: peewee.Database) -> None:
    """``intent.filled_at`` / ``settled_at`` (analytics' percentiles read them instead of
    joining the history), backfilled from the history: the time of each intent's standing
    fill entry and settle entry, in one grouped pass over the history and one rewrite of
    each dated row (UPDATE ... FROM: SQLite 3.33+, PostgreSQL). Idempotent like 0310: a
    database made after this change has the columns from 0300, and a backfill sets only
    rows still NULL."""
    from playhouse.migrate import SchemaMigrator, migrate
    table = IntentRow._meta.table_name
    have = {c.name for c in db.get_columns(table)}
    migrator = SchemaMigrator.from_database(db)
    ops = [migrator.add_column(table, n, IntentRow._meta.fields[n])
           for n in ("filled_at", "settled_at") if n not in have]
    if ops:
        migrate(*ops)
    # MIN for the fill: a settlement a reorg undid leaves a standing SETTLED -> FILLED entry
    # after the fill (FILL_ENTRY matches it); the fill is the first standing one.
    db.execute_sql(
        'UPDATE "intent" SET "filled_at" = e.filled, "settled_at" = e.settled FROM ('
        f"SELECT intent, MIN(CASE WHEN {FILL_ENTRY} THEN at END) AS filled, "
        f"MAX(CASE WHEN {SETTLE_ENTRY} THEN at END) AS settled "
        f'FROM "intent_transition" WHERE ({FILL_ENTRY}) OR ({SETTLE_ENTRY}) GROUP BY intent) AS e '
        'WHERE e.intent = "intent".id AND "intent"."filled_at" IS NULL '
        'AND "intent"."settled_at" IS NULL')


MIGRATION_0370 = Migration("0370_intent_wallet_digest", _migrate_0370)
MIGRATION_0390 = Migration("0390_auction_rounds", _migrate_0390)
MIGRATION_0391 = Migration("0391_intent_fill_times", _migrate_0391)
MIGRATION_0900 = Migration("0900_submission_counts", _migrate_0900)
MIGRATIONS = [MIGRATION, MIGRATION_0310, MIGRATION_0340, MIGRATION_0350, MIGRATION_0360,
              MIGRATION_0370, MIGRATION_0390, MIGRATION_0391, MIGRATION_0900]
