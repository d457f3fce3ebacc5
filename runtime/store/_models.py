"""The runtime's own tables: applied migrations and node leases."""

from __future__ import annotations

import peewee

from ._db import database

__all__ = ["BaseModel", "SchemaMigration", "Lease"]


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaMigration(BaseModel):
    id = peewee.CharField(max_length=128, primary_key=True)
    applied_at = peewee.DoubleField()
    applied_by = peewee.CharField(max_length=64)


class Lease(BaseModel):
    """Work split between nodes sharing one database: one owner per name until expiry."""

    name = peewee.CharField(max_length=200, primary_key=True)
    owner = peewee.CharField(max_length=128)   # a node instance: name (<= 64) + suffix
    expires_at = peewee.DoubleField()
