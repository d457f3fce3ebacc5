"""The alerts tables: current state per (node, name, source) and the log of transitions.

``alert`` holds one row per alert key (a resolved alert raised again reuses its row and
starts a new episode); ``alert_transition`` keeps every firing/resolved transition
(bounded by ``alerts.history``), for post-mortems. Scoped by node name, so nodes sharing
one database keep their own alerts (a rule fires on each node's own metrics).
"""

from __future__ import annotations

import peewee

from runtime.store import BaseModel, Migration

__all__ = ["Alert", "AlertTransition", "MIGRATION"]


class Alert(BaseModel):
    id = peewee.BigAutoField()
    node = peewee.CharField(max_length=64)
    name = peewee.CharField(max_length=200)
    source = peewee.CharField(max_length=300)
    severity = peewee.CharField(max_length=16)
    message = peewee.TextField(default="")
    labels = peewee.TextField(default="{}")          # JSON object of str -> str
    state = peewee.CharField(max_length=16)          # firing | resolved
    rule = peewee.CharField(max_length=200, null=True)  # set for alerts of a metric rule
    started_at = peewee.DoubleField()
    resolved_at = peewee.DoubleField(null=True, index=True)
    updated_at = peewee.DoubleField()
    count = peewee.BigIntegerField(default=1)

    class Meta:
        indexes = ((("node", "name", "source"), True), (("node", "state"), False))


class AlertTransition(BaseModel):
    id = peewee.BigAutoField()
    node = peewee.CharField(max_length=64)
    name = peewee.CharField(max_length=200)
    source = peewee.CharField(max_length=300)
    state = peewee.CharField(max_length=16)          # firing | resolved
    severity = peewee.CharField(max_length=16)
    message = peewee.TextField(default="")
    at = peewee.DoubleField(index=True)

    class Meta:
        indexes = ((("node", "id"), False),)


def _migrate_0800(db: peewee.Database) -> None:
    db.create_tables([Alert, AlertTransition])


MIGRATION = Migration("0800_alerts", _migrate_0800)
