"""The node registry: which node processes share this database, and what each one holds.

Each node writes its own :class:`~._models.NodeInstance` row (its ``store`` actor, at start
and every ``node.heartbeat_interval``) and deletes it at a graceful shutdown. A node that
died (``kill -9``, a lost host) cannot delete its row, so readers keep only the rows seen
within a staleness bound: its row simply stops being listed, with no sweeper to run.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NodeRecord", "HeldLease", "LeaseHolder", "STALE_HEARTBEATS"]

# A node is listed while its last heartbeat is at most this many heartbeat intervals old:
# one late or failed heartbeat (a slow commit, a store blip) does not drop a live node.
STALE_HEARTBEATS = 3


@dataclass(frozen=True)
class HeldLease:
    name: str          # e.g. "chain:devnet-a"
    expires_at: float  # unix seconds
    epoch: int = 1     # the fencing token: grows with each new holder


@dataclass(frozen=True)
class NodeRecord:
    """One node process as the registry has it (unix seconds for the times)."""

    instance: str
    name: str
    pid: int
    host: str
    grpc_listen: str
    started_at: float
    last_seen: float
    leases: tuple[HeldLease, ...] = ()
    advertise: str = ""   # host:port other nodes reach it at (node.advertise)


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease now, and where other nodes reach it (:meth:`Store.lease_holder`)."""

    name: str       # the lease
    instance: str   # the holding node process
    address: str    # host:port of its gRPC server (its node.advertise), "" if not registered
    epoch: int
    expires_at: float
