"""The runtime's own tables: applied migrations, node leases and the nodes themselves."""

from __future__ import annotations

import peewee

from ._db import database

__all__ = ["BaseModel", "SchemaMigration", "Lease", "NodeInstance", "ClusterSecret"]


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaMigration(BaseModel):
    id = peewee.CharField(max_length=128, primary_key=True)
    applied_at = peewee.DoubleField()
    applied_by = peewee.CharField(max_length=64)


class Lease(BaseModel):
    """Work split between nodes sharing one database: one owner per name until expiry.

    ``epoch`` is the fencing token: it grows by one each time the lease changes hands (a
    take after expiry or release), never when the holder renews. A holder checks its
    epoch inside the transaction of every write it makes (:meth:`Store.fence`), so a
    paused ex-holder's writes fail once another node holds the lease. A release keeps the
    row (expired) so the epoch never goes back."""

    name = peewee.CharField(max_length=200, primary_key=True)
    owner = peewee.CharField(max_length=128)   # a node instance: name (<= 64) + suffix
    expires_at = peewee.DoubleField()
    epoch = peewee.BigIntegerField(default=1)


class NodeInstance(BaseModel):
    """A running node process on this database (the node registry): written when its store
    actor starts, ``last_seen`` refreshed every ``node.heartbeat_interval``, deleted at its
    graceful shutdown. A node that died keeps its row until someone deletes it; readers
    keep only rows seen recently (:meth:`Store.list_nodes`)."""

    instance = peewee.CharField(max_length=128, primary_key=True)   # Node.instance
    name = peewee.CharField(max_length=64)                          # node.name
    pid = peewee.IntegerField()
    host = peewee.CharField(max_length=255)
    grpc_listen = peewee.CharField(max_length=300)   # host:port it serves on (bound port)
    # host:port the other nodes reach it at (node.advertise; default from grpc_listen)
    advertise = peewee.CharField(max_length=300, default="")
    started_at = peewee.DoubleField()
    last_seen = peewee.DoubleField()


class ClusterSecret(BaseModel):
    """One row: a random secret every node on this database reads, so nodes recognise each
    other's calls (a submission forwarded to the book's holder carries it, and the holder
    does not count it against the per-peer limit of the node that forwarded it). Made at
    the first migrate; never logged (``Store.cluster_secret`` registers it for redaction)."""

    id = peewee.IntegerField(primary_key=True)   # always 1
    secret = peewee.CharField(max_length=128)
