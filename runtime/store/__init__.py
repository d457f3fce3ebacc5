"""Persistence: peewee on SQLite (default) or PostgreSQL, exact uint256, migrations."""

from ._db import UINT256_TYPES, database, open_database, redact_url, sqlite_path
from ._fields import UINT256_MAX, UInt256Field
from ._migrations import RUNTIME_MIGRATIONS, Migration, migrate
from ._models import BaseModel, ClusterSecret, Lease, NodeInstance, SchemaMigration
from ._nodes import STALE_HEARTBEATS, HeldLease, LeaseHolder, NodeRecord
from ._actor import StoreActor, StoreSettings, StoreStatus, advertised_address
from ._store import STORE_DOWN, STORE_ERRORS, Store
from ._lock import NodeLock, lock_single_node

__all__ = ["UINT256_TYPES", "database", "open_database", "redact_url", "sqlite_path", "UINT256_MAX",
           "UInt256Field", "RUNTIME_MIGRATIONS", "Migration", "migrate", "BaseModel",
           "Lease", "NodeInstance", "SchemaMigration", "ClusterSecret", "STALE_HEARTBEATS",
           "HeldLease", "LeaseHolder", "NodeRecord",
           "STORE_DOWN", "STORE_ERRORS", "Store", "StoreActor", "StoreSettings", "StoreStatus",
           "advertised_address",
           "NodeLock", "lock_single_node"]
