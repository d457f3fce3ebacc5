"""The runtime's own configuration sections: node, database, supervision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, TypeVar

from .._backoff import Backoff
from .._spec import Strategy
from ._schema import Secret, opt

__all__ = ["NodeConfig", "TlsConfig", "is_loopback", "RpcLimit", "DatabaseConfig", "BackoffConfig", "GroupSupervision", "Config",
           "DEFAULT_DATABASE_URL"]

DEFAULT_DATABASE_URL = "sqlite:///var/orbital.db"
_HOSTPORT = r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}"


@dataclass(frozen=True)
class RpcLimit:
    """Calls of one method in progress at once; one over it waits ``wait`` seconds for a
    slot, then gets RESOURCE_EXHAUSTED."""

    concurrent: int = opt(64, min=1, max=1_000_000)
    wait: float = opt(0.0, min=0.0, max=60)


def _pem_file(path: str) -> None:
    """A readable PEM file (certificate, key or CA bundle), checked at load: a typo in a path
    is a config error naming the key, not a handshake failure at the first call."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in head:
        raise ValueError(f"{path!r} is not a PEM file (no -----BEGIN line)")


_LOOPBACK = ("127.", "localhost:", "[::1]:", "::1:")


def _has_password(url: str) -> bool:
    """``scheme://user:password@host``: a URL that carries a password (never inline)."""
    rest = url.split("://", 1)[-1]
    authority = rest.split("/", 1)[0]
    return "@" in authority and ":" in authority.rsplit("@", 1)[0]


def is_loopback(hostport: str) -> bool:
    """``host:port`` on a loopback address (127.0.0.0/8, localhost, ::1)."""
    return hostport.startswith(_LOOPBACK)


@dataclass(frozen=True)
class TlsConfig:
    """TLS of the node's gRPC ports (files in PEM; paths, never the key itself inline).

    ``cert``/``key``: the node's certificate chain and private key, served on
    ``grpc_listen`` (and ``admin_listen``), and presented to other nodes when this node
    forwards a call. ``ca``: the roots that other nodes' certificates are checked against
    when forwarding (default: the system's). ``client_ca``: mutual TLS for AdminService:
    with it, AdminService is served only on ``admin_listen``, and a client must present a
    certificate signed by this CA (gRPC requests a client certificate per port, not per
    service, so the admin port is its own)."""

    cert: str = opt(validate=_pem_file, doc="certificate chain (PEM file)")
    key: str = opt(validate=_pem_file, doc="private key of the certificate (PEM file)")
    ca: Optional[str] = opt(None, validate=_pem_file,
                            doc="roots for other nodes' certificates (forwarding)")
    client_ca: Optional[str] = opt(None, validate=_pem_file,
                                   doc="mTLS for AdminService on admin_listen: the CA that "
                                       "signs operators' client certificates")


@dataclass(frozen=True)
class NodeConfig:
    name: str = opt("node-1", pattern=r"[A-Za-z0-9_.\-]{1,64}",
                    doc="identity of this node when several share one database")
    grpc_listen: str = opt("127.0.0.1:50051", pattern=_HOSTPORT)
    metrics_listen: str = opt("127.0.0.1:9464", pattern=_HOSTPORT)
    metrics_cache: float = opt(5.0, min=0, max=300,
                               doc="seconds a scrape-time figure (a store count) is reused: "
                                   "scrapes within this time cost one query; 0: every scrape")
    advertise: Optional[str] = opt(None, pattern=_HOSTPORT,
                                   doc="host:port other nodes on the database reach this "
                                       "node's gRPC at (forwarded submissions); default: "
                                       "the bound grpc_listen, 0.0.0.0 or :: as 127.0.0.1")
    admin_listen: Optional[str] = opt(None, pattern=_HOSTPORT,
                                      doc="serve AdminService on this host:port only (not "
                                          "on grpc_listen); required by tls.client_ca")
    tls: Optional[TlsConfig] = opt(None, doc="TLS of the gRPC ports; required to listen "
                                             "on a non-loopback address")
    allow_plaintext: bool = opt(False, doc="listen without TLS on a non-loopback address "
                                           "(behind a TLS-terminating proxy): explicit only")
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

    RESTART_ONLY = ("name", "grpc_listen", "admin_listen", "tls", "allow_plaintext",
                    "metrics_listen", "advertise", "state_dir",
                    "max_message_bytes", "max_concurrent_streams", "rpc_pools", "rpc_routes",
                    "rpc_limits", "lease_ttl")

    def check(self) -> None:
        if self.tls is None and not self.allow_plaintext:
            for key in ("grpc_listen", "admin_listen"):
                where = getattr(self, key)
                if where and not is_loopback(where):
                    raise ValueError(f"{key} {where} is not a loopback address and there is "
                                     "no tls: the admin token and every call would travel "
                                     "in clear; configure node.tls (cert, key), or set "
                                     "node.allow_plaintext: true behind a TLS-terminating "
                                     "proxy")
        if self.tls is not None and self.tls.client_ca and not self.admin_listen:
            raise ValueError("tls.client_ca (mTLS for AdminService) needs admin_listen: "
                             "client certificates are requested per port, so AdminService "
                             "gets a port of its own")
        if self.admin_listen and self.admin_listen == self.grpc_listen \
                and not self.admin_listen.endswith(":0"):
            raise ValueError("admin_listen must differ from grpc_listen")
        pools = {"default", "admin", "reads", *self.rpc_pools}   # runtime.grpc.DEFAULT_POOLS
        for key, pool in self.rpc_routes.items():
            if pool not in pools:
                raise ValueError(f"rpc_routes.{key}: unknown pool {pool!r}; add it to "
                                 f"rpc_pools or use one of {', '.join(sorted(pools))}")


@dataclass(frozen=True)
class DatabaseConfig:
    url: Optional[Secret] = opt(None, pattern=r"(sqlite|postgres|postgresql)://.*",
                                inline_if=lambda url: not _has_password(url),
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
