"""How a client reaches a node: plaintext on loopback, TLS elsewhere.

One place builds the channels of the client library, the ``orbital`` commands and the
reference solver (which may import only ``protocol``), so the TLS options (the CA that
signs the node's certificate; a client certificate and key for mutual TLS on the admin
port) mean the same thing everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

__all__ = ["TlsOptions", "open_channel"]


@dataclass(frozen=True)
class TlsOptions:
    """Paths of PEM files. ``ca``: roots the node's certificate is checked against (None:
    the system's roots); ``cert``/``key``: this client's certificate, for mutual TLS (the
    node's AdminService port with ``tls.client_ca``)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if bool(self.cert) != bool(self.key):
            raise ValueError("a client certificate needs its key, and a key its certificate")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TlsOptions | None:
        """From ``ORBITAL_TLS_CA``, ``ORBITAL_TLS_CERT``, ``ORBITAL_TLS_KEY``; None when
        none is set (and ``ORBITAL_TLS`` is not 1: TLS with the system's roots)."""
        env = os.environ if env is None else env
        ca, cert, key = (env.get(f"ORBITAL_TLS_{k}") or None for k in ("CA", "CERT", "KEY"))
        if not (ca or cert or key or env.get("ORBITAL_TLS") == "1"):
            return None
        return cls(ca, cert, key)

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str | None) -> bytes | None:
            if not path:
                return None
            with open(path, "rb") as fh:
                return fh.read()
        return grpc.ssl_channel_credentials(root_certificates=read(self.ca),
                                            private_key=read(self.key),
                                            certificate_chain=read(self.cert))


def open_channel(target: str, tls: TlsOptions | None = None,
                 options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A channel to ``target``: TLS when ``tls`` is given, else plaintext."""
    if tls is None:
        return grpc.insecure_channel(target, options=list(options))
    return grpc.secure_channel(target, tls.credentials(), options=list(options))
