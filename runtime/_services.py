"""What the node lends every actor: :class:`Services`, reached as ``self.ctx.services``.

Its own module, importing only what it names (the store, metrics, the gRPC server), so the
actor base can be typed against it without importing the node that builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._metrics import Metrics
from .grpc import GrpcServer
from .store._store import Store

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    """Node-wide resources every actor may use. An actor's own configuration comes with its
    child spec, never from here, so a reload reaches exactly the actors whose part changed."""

    store: Store
    metrics: Metrics
    node_name: str   # the configured node (node.name): alerts' node, the keeper's scope
    state_dir: str
    grpc: GrpcServer | None = None   # the node's server (None in a bare test tree)
    # This process: node_name plus a random suffix, unique per start (Node.instance). Who
    # holds leases; "" (a bare test tree) means node_name.
    instance: str = ""
    # Seconds a singleton's lease lasts unrenewed (node.lease_ttl): how long a dead node's
    # work waits before a standby node takes it over (Actor.lease).
    lease_ttl: float = 10.0

    def __post_init__(self) -> None:
        if not self.instance:
            object.__setattr__(self, "instance", self.node_name)
