"""The runtime's own configuration sections: node, database, supervision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, TypeVar

from .._backoff import Backoff
from .._spec import Strategy
from ._schema import Secret, opt

__all__ = ["NodeConfig", "RpcLimit", "DatabaseConfig", "BackoffConfig", "GroupSupervision", "Config",
           "DEFAULT_DATABASE_URL"]

DEFAULT_DATABASE_URL = "sqlite:///var/orbital.db"
_HOSTPORT = r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}"


@dataclass(frozen=True)
class RpcLimit:
    """Calls of one method in progress at once; one over it waits ``wait`` seconds for a
    slot, then gets RESOURCE_EXHAUSTED."""

    concurrent: int = opt(64, min=1, max=1_000_000)
    wait: float = opt(0.0, min=0.0, max=60)


@dataclass(frozen=True)
class NodeConfig:
    name: str = opt("node-1", pattern=r"[A-Za-z0-9_.\-]{1,64}",
                    doc="identity of this node when several share one database")
    grpc_listen: str = opt("127.0.0.1:50051", pattern=_HOSTPORT)
    metrics_listen: str = opt("127.0.0.1:9464", pattern=_HOSTPORT)
    advertise: Optional[str] = opt(None, pattern=_HOSTPORT,
                                   doc="host:port other nodes on the database reach this "
                                       "node's gRPC at (forwarded submissions); default: "
                                       "the bound grpc_listen, 0.0.0.0 or :: as 127.0.0.1")
    admin_token: Optional[Secret] = opt(None, pattern=r"\S{16,}",
                                        doc="bearer token; default: generated into var/admin-token")
    state_dir: str = opt("var")
    max_message_bytes: int = opt(1 << 20, min=1024, max=64 << 20)
    max_concurrent_streams: int = opt(10000, min=1)
    shutdown_timeout: float = opt(10.0, min=0.1, max=600)
    heartbeat_interval: float = opt(2.0, min=0.1, max=60,
                                    doc="seconds between refreshes of this node's row in the "
                                        "node registry (AdminService/ListNodes)")
    lease_ttl: float = opt(10.0, min=1.0, max=3600,
                           doc="seconds a singleton's lease (the book, an attester, a funding "
                               "account...) lasts unrenewed: how long a dead node's work "
                               "waits before another node on the database takes it over")
    # Merged over the defaults of runtime.grpc (DEFAULT_POOLS, DEFAULT_ROUTES,
    # DEFAULT_LIMITS): an entry replaces the default of the same key.
    rpc_pools: dict[str, int] = opt(factory=dict, pattern=r"[a-z][a-z0-9_\-]{0,31}",
                                    doc="threads per pool: default, admin, reads, or new ones")
    rpc_routes: dict[str, str] = opt(factory=dict, pattern=r"[A-Za-z]+(/[A-Za-z]+)?",
                                     doc="Service or Service/Method -> the pool it runs on")
    rpc_limits: dict[str, RpcLimit] = opt(factory=dict, pattern=r"[A-Za-z]+(/[A-Za-z]+)?",
                                          doc="Service or Service/Method -> calls in progress")

    RESTART_ONLY = ("name", "grpc_listen", "metrics_listen", "advertise", "state_dir",
                    "max_message_bytes", "max_concurrent_streams", "rpc_pools", "rpc_routes",
                    "rpc_limits", "lease_ttl")

    def check(self) -> None:
        pools = {"default", "admin", "reads", *self.rpc_pools}   # runtime.grpc.DEFAULT_POOLS
        for key, pool in self.rpc_routes.items():
            if pool not in pools:
                raise ValueError(f"rpc_routes.{key}: unknown pool {pool!r}; add it to "
                                 f"rpc_pools or use one of {', '.join(sorted(pools))}")


@dataclass(frozen=True)
class DatabaseConfig:
    url: Optional[Secret] = opt(None, pattern=r"(sqlite|postgres|postgresql)://.*",
                                doc="default sqlite:///var/orbital.db or $DATABASE_URL")
    pool_size: int = opt(16, min=1, max=1000)


@dataclass(frozen=True)
class BackoffConfig:
    initial: float = opt(0.1, min=0, max=3600)
    max: float = opt(30.0, min=0, max=86400)
    multiplier: float = opt(2.0, min=1, max=100)
    jitter: float = opt(0.2, min=0, max=1)
    reset_after: float = opt(60.0, min=0)

    def to_backoff(self) -> Backoff:
        return Backoff(self.initial, self.max, self.multiplier, self.jitter, self.reset_after)


@dataclass(frozen=True)
class GroupSupervision:
    strategy: Optional[Strategy] = None      # None: the group's default (SPEC section 1)
    intensity: int = opt(5, min=0, max=10000)
    period: float = opt(30.0, min=0.001)
    backoff: BackoffConfig = opt(factory=BackoffConfig)
    shutdown_timeout: float = opt(5.0, min=0.01, max=600,
                                  doc="per child of this group, before it is abandoned")


T = TypeVar("T")


@dataclass(frozen=True)
class Config:
    """The whole validated file: runtime sections plus the sections actor kinds declared."""

    file: str
    node: NodeConfig
    database: DatabaseConfig
    supervision: dict[str, GroupSupervision]
    sections: dict[str, Any]

    def section(self, name: str, schema: type[T]) -> T:
        """Section ``name`` as loaded (a section the file leaves out has its defaults); a
        section no installed kind declared is ``schema()``, its defaults too. ``schema`` is
        the type the kind declared it with (``dict`` for mappings such as ``chains``);
        TypeError if it is not."""
        value = self.sections.get(name)
        if value is None:
            return schema()
        if not isinstance(value, schema):
            raise TypeError(f"config section {name!r} is {type(value).__name__}, "
                            f"not {schema.__name__}")
        return value
