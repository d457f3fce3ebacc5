"""Versioned schema migrations, applied at start, idempotent, safe for concurrent nodes.

All pending migrations run in one transaction under a lock: a PostgreSQL advisory lock
(two nodes starting together serialise; the second finds nothing left to do) or SQLite's
``BEGIN IMMEDIATE``. A failed migration rolls back whole, leaving the schema as it was.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from collections.abc import Callable, Iterable

import peewee

from ._models import ClusterSecret, Lease, NodeInstance, SchemaMigration

__all__ = ["Migration", "migrate", "RUNTIME_MIGRATIONS"]

_LOCK_KEY = 7_310_001  # arbitrary, constant across versions


@dataclass(frozen=True)
class Migration:
    id: str                                   # sortable: "0001_runtime", "0100_intents"...
    apply: Callable[[peewee.Database], None]


def _runtime_0001(db: peewee.Database) -> None:
    db.create_tables([Lease])


def _runtime_0002(db: peewee.Database) -> None:
    """Lease owners are node instances (a name of up to 64 characters plus a random
    suffix): widen the column from 64. SQLite does not enforce VARCHAR lengths."""
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql('ALTER TABLE "lease" ALTER COLUMN "owner" TYPE VARCHAR(128)')


def _runtime_0003(db: peewee.Database) -> None:
    """The node registry: which node processes run on this database (AdminService/ListNodes)."""
    db.create_tables([NodeInstance])


def _runtime_0004(db: peewee.Database) -> None:
    """Fencing tokens: a lease's epoch grows with each new holder (Store.fence). A
    database made from scratch got the column from 0001 (the model has it)."""
    if "epoch" not in {c.name for c in db.get_columns("lease")}:
        db.execute_sql('ALTER TABLE "lease" ADD COLUMN "epoch" BIGINT NOT NULL DEFAULT 1')


def _runtime_0005(db: peewee.Database) -> None:
    """The address other nodes reach a node at (node.advertise). A database made from
    scratch got the column from 0003 (the model has it)."""
    if "advertise" not in {c.name for c in db.get_columns("node_instance")}:
        db.execute_sql('ALTER TABLE "node_instance" ADD COLUMN "advertise" '
                       "VARCHAR(300) NOT NULL DEFAULT ''")


def _runtime_0006(db: peewee.Database) -> None:
    """The cluster secret (32 random bytes, hex): made once, by the first node to migrate."""
    db.create_tables([ClusterSecret])
    ClusterSecret.insert(id=1, secret=secrets.token_hex(32)).execute(db)


RUNTIME_MIGRATIONS = (Migration("0001_runtime_leases", _runtime_0001),
                      Migration("0002_runtime_lease_owner", _runtime_0002),
                      Migration("0003_runtime_node_instances", _runtime_0003),
                      Migration("0004_runtime_lease_epoch", _runtime_0004),
                      Migration("0005_runtime_node_advertise", _runtime_0005),
                      Migration("0006_runtime_cluster_secret", _runtime_0006))


def migrate(db: peewee.Database, migrations: Iterable[Migration], node: str) -> list[str]:
    """Apply what is missing; returns the ids applied by this call (empty when up to date)."""
    pending = sorted({m.id: m for m in migrations}.values(), key=lambda m: m.id)
    applied_now: list[str] = []
    with db.connection_context():
        ctx = db.atomic("IMMEDIATE") if isinstance(db, peewee.SqliteDatabase) else db.atomic()
        with ctx:
            if isinstance(db, peewee.PostgresqlDatabase):
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            db.create_tables([SchemaMigration], safe=True)
            done = {row.id for row in SchemaMigration.select(SchemaMigration.id)}
            for m in pending:
                if m.id in done:
                    continue
                m.apply(db)
                SchemaMigration.create(id=m.id, applied_at=time.time(), applied_by=node)
                applied_now.append(m.id)
    return applied_now
