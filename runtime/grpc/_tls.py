"""TLS material of the node's gRPC ports, read once from PEM files.

Why one object: the same certificate is served on ``grpc_listen`` and ``admin_listen`` and
presented to other nodes when a call is forwarded, so it is read in one place and handed
to the server and to the forwarder's channels alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

__all__ = ["ServerTls"]


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as fh:
        return fh.read()


@dataclass(frozen=True, repr=False)
class ServerTls:
    cert: bytes
    key: bytes
    ca: bytes | None = None          # roots for other nodes' certificates
    client_ca: bytes | None = None   # mTLS: roots of client certificates (admin port)

    def __repr__(self) -> str:       # never the key
        return f"ServerTls(client_ca={self.client_ca is not None})"

    @classmethod
    def from_files(cls, cert: str, key: str, ca: str | None = None,
                   client_ca: str | None = None) -> ServerTls:
        return cls(_read(cert) or b"", _read(key) or b"", _read(ca), _read(client_ca))

    def server_credentials(self, *, mutual: bool = False) -> grpc.ServerCredentials:
        """The port's credentials; ``mutual``: a client certificate signed by ``client_ca``
        is required (the handshake fails without one)."""
        if mutual:
            return grpc.ssl_server_credentials([(self.key, self.cert)],
                                               root_certificates=self.client_ca,
                                               require_client_auth=True)
        return grpc.ssl_server_credentials([(self.key, self.cert)])

    def peer_credentials(self) -> grpc.ChannelCredentials:
        """For a channel to another node: its certificate checked against ``ca`` (or the
        system's roots), this node's certificate presented."""
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)
