"""The keeper's tables: task state (``keeper_task``) and run history (``keeper_run``).

The store, not the actor, holds what must survive a restart or be shared between nodes
on one database: pause state, the schedule, the counters and the claim of a running task.
"""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration

__all__ = ["KeeperTask", "KeeperRun", "MIGRATION", "MIGRATION_0710", "MIGRATIONS"]


# ---- store ------------------------------------------------------------------------------
class KeeperTask(BaseModel):
    name = peewee.CharField(max_length=200, primary_key=True)
    cron = peewee.CharField(max_length=200)
    paused = peewee.BooleanField(default=False)
    last_run_at = peewee.DoubleField(null=True)
    last_result = peewee.TextField(default="")
    last_error = peewee.TextField(default="")
    next_run_at = peewee.DoubleField(null=True)
    running_since = peewee.DoubleField(null=True)
    run_id = peewee.CharField(max_length=64, null=True)
    # The node instance whose run holds the claim (running_since): a node starting while
    # another, alive, runs the task leaves the claim alone; a dead owner's claim is taken.
    owner = peewee.CharField(max_length=128, default="")
    runs = peewee.BigIntegerField(default=0)
    skipped = peewee.BigIntegerField(default=0)


class KeeperRun(BaseModel):
    id = peewee.BigAutoField()
    task = peewee.CharField(max_length=200, index=True)
    run_id = peewee.CharField(max_length=64, unique=True)
    trigger = peewee.CharField(max_length=16)        # cron | manual | misfire
    started_at = peewee.DoubleField(index=True)
    finished_at = peewee.DoubleField(null=True)
    result = peewee.TextField(default="")
    error = peewee.TextField(default="")


def _migrate_0700(db: peewee.Database) -> None:
    db.create_tables([KeeperTask, KeeperRun])


def _migrate_0710(db: peewee.Database) -> None:
    """The owner of a task's claim (several nodes on one database). Idempotent: a database
    made after this change got the column from 0700's create_tables already."""
    from playhouse.migrate import SchemaMigrator, migrate
    table = KeeperTask._meta.table_name
    if "owner" not in {c.name for c in db.get_columns(table)}:
        migrate(SchemaMigrator.from_database(db).add_column(table, "owner",
                                                            KeeperTask._meta.fields["owner"]))


MIGRATION = Migration("0700_keeper", _migrate_0700)
MIGRATION_0710 = Migration("0710_keeper_owner", _migrate_0710)
MIGRATIONS = [MIGRATION, MIGRATION_0710]

