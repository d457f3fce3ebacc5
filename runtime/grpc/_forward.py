"""Forwarding a call to the node that holds a singleton's lease (another node, one database).

Every node serves every client, but a singleton (the intent book) runs on one node at a
time: a node whose singleton stands by sends the call on to the holder, found in the
database (the lease row, then the holder's address in the node registry), over a cached
channel per holder, with a short deadline; the holder's answer, OK or not, goes back to
the caller unchanged (:class:`Relayed`).

Forwarded calls carry two metadata keys: :data:`FORWARDED_BY` (the forwarding instance: a
call that carries it is never forwarded again, so a lease that moves meanwhile cannot
make a loop) and :data:`CLUSTER_SECRET` (the secret every node reads from the database:
the holder trusts a call carrying it to have passed the edge node's per-peer limits, and
does not count all the calls of one edge node as one peer). The secret travels in plain
text: nodes talk over loopback or a private network.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from google.rpc import status_pb2

from .._errors import DeadlineExceeded, Unavailable
from ._limits import peer_host
from ._status import Relayed

if TYPE_CHECKING:   # the store imports the actor base, which imports this package
    from ..store import LeaseHolder, Store
    from ._server import GrpcServer

__all__ = ["Forwarder", "FORWARDED_BY", "FORWARDED_FOR", "CLUSTER_SECRET"]

log = logging.getLogger("orbital.grpc")

FORWARDED_BY = "orbital-forwarded-by"
CLUSTER_SECRET = "orbital-cluster-secret"
# The caller's own address (peer_host) on a relayed stream: the holder keys its per-peer
# limits by it when the call is trusted, not by the relaying node's address.
FORWARDED_FOR = "orbital-forwarded-for"
# The holder's address is read again after this long (or at once after a failure): a
# lease that moves is followed within a second, without a query per forwarded call.
_HOLDER_TTL = 1.0


def _metadata(context: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            out[key] = value
    return out


class Forwarder:
    """Forwards calls to the holder of lease ``lease`` (``what``: how messages name the
    singleton, e.g. "the intent book"). ``timeout``: the deadline of a forwarded call,
    shortened to the caller's own when that is sooner. Used on the server's loop."""

    def __init__(self, store: Store, server: GrpcServer, lease: str, *, what: str,
                 timeout: float = 5.0) -> None:
        self.store = store
        self.server = server
        self.lease = lease
        self.what = what
        self.timeout = timeout
        self._holder: LeaseHolder | None = None
        self._holder_until = 0.0
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._secret = ""
        server.at_stop(self.close)

    # ---- the receiving side -----------------------------------------------------------
    @staticmethod
    def was_forwarded(context: Any) -> bool:
        """The call was forwarded by another node (or claims so): never forward it again."""
        return FORWARDED_BY in _metadata(context)

    async def trusted(self, context: Any) -> bool:
        """The call carries this cluster's secret: another node of the database forwarded
        it after applying its own per-peer limits. A wrong secret is simply not trusted."""
        given = _metadata(context).get(CLUSTER_SECRET)
        if not given:
            return False
        secret = await self._cluster_secret()
        return hmac.compare_digest(given.encode(), secret.encode())

    async def peer(self, context: Any) -> str:
        """The peer per-peer limits are keyed by: the caller, or for a call relayed by
        another node of the cluster (trusted), the caller it relayed."""
        relayed_for = _metadata(context).get(FORWARDED_FOR)
        if relayed_for and await self.trusted(context):
            return relayed_for
        return peer_host(context)

    async def _cluster_secret(self) -> str:
        if not self._secret:
            self._secret = await self.server.call(self.store.cluster_secret)
        return self._secret

    # ---- the sending side -------------------------------------------------------------
    async def forward(self, method: str, request: Any, response_type: Any, context: Any) -> Any:
        """Send ``request`` to the holder's ``method`` (``/pkg.Service/Method``) and return
        its response; its error status is raised as :class:`Relayed` (passed on as is).
        :class:`Unavailable` when no node holds the lease, the holder is this node (taking
        over now), or the holder cannot be reached."""
        holder = await self._find_holder()
        timeout = self.timeout
        left = context.time_remaining()
        if left is not None:
            if left <= 0:
                raise DeadlineExceeded("the call's deadline passed before it was forwarded")
            timeout = min(timeout, left)
        call = self._channel(holder.address).unary_unary(
            method, request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString)
        metadata = ((FORWARDED_BY, self.store.instance),
                    (CLUSTER_SECRET, await self._cluster_secret()))
        try:
            return await call(request, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            status = _status_of(exc)
            if status is None:   # from the transport, not from the holder's handler
                self._forget()
                raise self._unreachable(holder, exc) from None
            if status.code == grpc.StatusCode.UNAVAILABLE.value[0]:
                self._forget()   # the lease may have moved: look it up again next time
            raise Relayed(status) from None

    async def elsewhere(self) -> bool:
        """True when another node holds the lease (calls go there), False when this node
        does; :class:`Unavailable` when no node does (it is moving)."""
        now = time.monotonic()
        if self._holder is None or now >= self._holder_until:
            self._holder = await self.server.call(self.store.lease_holder, self.lease)
            self._holder_until = now + _HOLDER_TTL
        if self._holder is not None and self._holder.instance == self.store.instance:
            return False
        await self._find_holder()
        return True

    async def relay(self, method: str, first: Any, requests: AsyncIterator[Any],
                    response_type: Any, context: Any) -> AsyncIterator[Any]:
        """Relay a bidirectional stream to the holder's ``method``: ``first`` (a message
        already read) then ``requests`` go there, its messages come back. The holder's
        error status ends the stream as :class:`Relayed`; a transport failure (the holder
        died) as :class:`Unavailable` naming it, so the client reconnects, here, and is
        relayed to the next holder."""
        holder = await self._find_holder()
        call = self._channel(holder.address).stream_stream(
            method, request_serializer=type(first).SerializeToString,
            response_deserializer=response_type.FromString)

        async def upstream() -> AsyncIterator[Any]:
            yield first
            async for message in requests:
                yield message

        metadata = ((FORWARDED_BY, self.store.instance),
                    (CLUSTER_SECRET, await self._cluster_secret()),
                    (FORWARDED_FOR, peer_host(context)))
        stream = call(upstream(), metadata=metadata)
        try:
            async for message in stream:
                yield message
        except grpc.aio.AioRpcError as exc:
            status = _status_of(exc)
            if status is None:
                self._forget()
                raise self._unreachable(holder, exc) from None
            if status.code == grpc.StatusCode.UNAVAILABLE.value[0]:
                self._forget()
            raise Relayed(status) from None
        finally:
            stream.cancel()

    async def _find_holder(self) -> LeaseHolder:
        now = time.monotonic()
        if self._holder is None or now >= self._holder_until:
            self._holder = await self.server.call(self.store.lease_holder, self.lease)
            self._holder_until = now + _HOLDER_TTL
        holder = self._holder
        if holder is None:
            self._forget()
            raise Unavailable(f"no node holds {self.what} now (lease {self.lease!r}): it is "
                              "moving to another node, or no node running it is up; retry "
                              "in a second, and check `orbital nodes` if it persists")
        if holder.instance == self.store.instance:
            self._forget()
            raise Unavailable(f"this node is taking {self.what} over (lease {self.lease!r}); "
                              "retry")
        if not holder.address:
            self._forget()
            raise Unavailable(f"{self.what} is held by node {holder.instance}, which has no "
                              "address in the node registry (starting, or its row was "
                              "deleted); retry, and check its node.advertise")
        return holder

    def _forget(self) -> None:
        self._holder, self._holder_until = None, 0.0

    def _unreachable(self, holder: LeaseHolder, exc: grpc.aio.AioRpcError) -> Unavailable:
        log.warning("forwarding failed: holder unreachable",
                    extra={"lease": self.lease, "holder": holder.instance,
                           "address": holder.address, "code": exc.code().name,
                           "error": (exc.details() or "")[:200]})
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            why = "did not answer in time"
        else:
            why = "cannot be reached"
        return Unavailable(f"{self.what} is held by node {holder.instance} at {holder.address}, "
                           f"which {why} from this node; retry (another node takes the lease "
                           "over if that node is down), and check its node.advertise and that "
                           "the nodes can reach each other")

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            # one holder at a time: channels to earlier holders are closed
            for old in self._channels.values():
                asyncio.ensure_future(old.close())
            tls = self.server.tls   # a node that serves TLS speaks TLS to its peers
            self._channels = {address: grpc.aio.insecure_channel(address) if tls is None else
                              grpc.aio.secure_channel(address, tls.peer_credentials())}
            channel = self._channels[address]
        return channel

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


def _status_of(exc: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The holder's own answer (an Orbital handler always sends ``grpc-status-details-bin``,
    :func:`~._status.to_status`), or None for a failure of the transport (connection
    refused, our deadline, a reset), which carries no such details."""
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None

