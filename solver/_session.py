"""One solver session over gRPC: challenge, hello, then the message loop.

Protocol (protos/orbital/v1/solver.proto): ``GetChallenge`` -> sign the text with EIP-191
(personal_sign) -> open ``Session`` with a ``hello`` first -> the node answers ``welcome`` with
the heartbeat interval -> offers, awards, losses and updates arrive; bids, fill reports and
heartbeats go out. The session ends when the stream ends (either side, or the network); the
:class:`~solver.Solver` decides whether and when to reconnect.

Outgoing messages go through one queue per session, read by gRPC's request iterator, so any
thread (heartbeats, award workers) may send without touching the call.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Protocol

import grpc
from eth_account.messages import encode_defunct

from orbital.v1 import solver_pb2 as pb
from orbital.v1 import solver_pb2_grpc as pb_grpc

from ._config import SolverConfig

__all__ = ["Handler", "Outbox", "SessionRun", "DEFAULT_HEARTBEAT"]

log = logging.getLogger("orbital.solver.session")

DEFAULT_HEARTBEAT = 5.0


class Handler(Protocol):
    """What the session hands each server message to (the Solver)."""

    def on_welcome(self, run: SessionRun, welcome: pb.Welcome) -> None: ...
    def on_offer(self, run: SessionRun, offer: pb.Offer) -> None: ...
    def on_award(self, run: SessionRun, award: pb.Award) -> None: ...
    def on_loss(self, run: SessionRun, loss: pb.Loss) -> None: ...
    def on_bid_rejected(self, run: SessionRun, rejected: pb.BidRejected) -> None: ...
    def on_update(self, run: SessionRun, update) -> None: ...
    def on_decline_rejected(self, run: SessionRun, rejected: pb.DeclineRejected) -> None: ...
    def on_suspended(self, run: SessionRun, suspended: pb.Suspended) -> None: ...


class Outbox:
    """Unbounded only in theory: the solver sends one bid per offer and a few reports per award."""

    _CLOSE = object()

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._closed = threading.Event()

    def put(self, message: pb.SolverMessage) -> bool:
        if self._closed.is_set():
            return False
        self._queue.put(message)
        return True

    def close(self) -> None:
        self._closed.set()
        self._queue.put(self._CLOSE)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __iter__(self) -> Iterator[pb.SolverMessage]:
        while True:
            item = self._queue.get()
            if item is self._CLOSE:
                return
            yield item


class SessionRun:
    """One connection attempt and, if it is welcomed, the session's whole life."""

    def __init__(self, config: SolverConfig, handler: Handler) -> None:
        self.config = config
        self.handler = handler
        self.outbox = Outbox()
        self.welcomed = threading.Event()
        self.session_id = ""
        self._ended = threading.Event()
        self._call = None
        self._lock = threading.Lock()

    def send(self, **kind) -> bool:
        """Queue one SolverMessage (``bid=...``, ``fill_report=...``); False if the session is over."""
        return self.outbox.put(pb.SolverMessage(**kind))

    def cancel(self) -> None:
        """End the session from another thread (solver stopping)."""
        self._ended.set()
        self.outbox.close()
        with self._lock:
            if self._call is not None:
                self._call.cancel()

    def run(self, channel: grpc.Channel) -> None:
        """Blocks for the session's life; raises grpc.RpcError when the node ends it with an error."""
        cfg = self.config
        stub = pb_grpc.SolverServiceStub(channel)
        address = cfg.address
        challenge = stub.GetChallenge(pb.GetChallengeRequest(solver=address), timeout=cfg.grpc_timeout)
        signature = cfg.key.account.sign_message(encode_defunct(text=challenge.message)).signature
        self.send(hello=pb.Hello(solver=address, challenge=challenge.message, signature="0x" + bytes(signature).hex(),
                                 chains=[str(c) for c in cfg.chain_ids], tokens=list(cfg.tokens)))
        with self._lock:
            if self._ended.is_set():
                return
            call = self._call = stub.Session(iter(self.outbox))
        heartbeat: threading.Thread | None = None
        try:
            for message in call:
                kind = message.WhichOneof("kind")
                if kind == "welcome":
                    self.session_id = message.welcome.session_id
                    interval = message.welcome.heartbeat_interval_seconds or DEFAULT_HEARTBEAT
                    heartbeat = threading.Thread(target=self._beat, args=(interval,), daemon=True,
                                                 name="solver-heartbeat")
                    heartbeat.start()
                    self.welcomed.set()
                    self.handler.on_welcome(self, message.welcome)
                elif kind == "offers":   # one round's offers
                    for offer in message.offers.offers:
                        self.handler.on_offer(self, offer)
                elif kind == "award":
                    self.handler.on_award(self, message.award)
                elif kind == "loss":
                    self.handler.on_loss(self, message.loss)
                elif kind == "bid_rejected":
                    self.handler.on_bid_rejected(self, message.bid_rejected)
                elif kind == "update":
                    self.handler.on_update(self, message.update)
                elif kind == "decline_rejected":
                    self.handler.on_decline_rejected(self, message.decline_rejected)
                elif kind == "suspended":
                    self.handler.on_suspended(self, message.suspended)
                # heartbeat_ack: nothing to do; its arrival is what keeps the stream alive
        finally:
            self._ended.set()
            self.outbox.close()
            if heartbeat is not None:
                heartbeat.join(timeout=1.0)

    def _beat(self, interval: float) -> None:
        """Heartbeats a little faster than asked, so a slow scheduler never misses the timeout."""
        seq = 0
        period = max(0.05, interval * 0.8)
        while not self._ended.wait(period):
            seq += 1
            if not self.send(heartbeat=pb.Heartbeat(seq=seq)):
                return
