"""Solver-session tests: one devnet per test session (free ports), a real Node per test with
the chain watchers, the intent book and the solver service installed, and
:class:`SolverClient`, a solver speaking SolverService over a real loopback channel.

Reusable by other test folders (auction tests): ``solver_node`` starts a node whose
``intents`` section takes keyword overrides, ``SolverClient(channel, account)`` logs in
with a challenge signed by the account and collects ServerMessages on its own thread.
"""

from __future__ import annotations

import importlib
import queue
import threading
import time
from typing import Any
from collections.abc import Callable, Iterable

import grpc
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

import devnet
from devnet import DevnetInfo, free_ports
from orbital.v1 import solver_pb2, solver_pb2_grpc
from node import new_app
from runtime.config import App
from runtime.node import Node
from runtime.testing import FakeClock
from runtime.testing import wait_until  # noqa: F401 - shared by the test modules here
from tests._node import ADMIN, TestNodes, chains_section, yaml_value  # noqa: F401 - ADMIN
CHAINS = ("devnet-a", "devnet-b")



@pytest.fixture(scope="session")
def devnet_info(tmp_path_factory):
    state = tmp_path_factory.mktemp("devnet")
    with devnet.running(state, ports=free_ports(2), quiet=True) as info:
        yield info


def make_app() -> App:
    """The kinds a session needs: chain watchers (the chains section), the intent book (with
    IntentService) and the solver service; not the whole of actors.KINDS, so that these
    tests do not depend on kinds that have nothing to do with sessions."""
    app = new_app()
    for kind in ("chain_watcher", "book", "solvers"):
        importlib.import_module(f"actors.{kind}").install(app)
    return app


def fake_clock() -> FakeClock:
    """A FakeClock whose wall time is now, so challenge expiries read like real ones."""
    start = time.monotonic()
    return FakeClock(start=start, wall_offset=time.time() - start)


@pytest.fixture
def solver_node(tmp_path, request):
    """``start(database_url, clock=None, extra="", devnet=None, **intents)`` -> a started
    Node on the chains of ``devnet`` (a DevnetInfo), by default the session's devnet,
    started only when a test asks for it (a test that never reads a chain passes its own).

    On a FakeClock, offer rounds default to 0 (each book message is its own round): tests
    that drive the clock for auction windows need not also step the round."""
    with TestNodes(tmp_path) as nodes:
        def start(database_url: str, *, clock=None, extra: str = "", app: App | None = None,
                  devnet: DevnetInfo | None = None, **intents: Any) -> Node:
            devnet = devnet or request.getfixturevalue("devnet_info")
            settings = {"heartbeat_interval": 1, "heartbeat_timeout": 3,
                        **({"round_interval": 0} if clock is not None else {})} | intents
            path = nodes.config(database_url, {
                "intents": {k: yaml_value(v) for k, v in settings.items()},
                "chains": chains_section(devnet.chains, confirmations=0, poll_interval=0.2)},
                extra=extra, supervision={"intents/solvers": {"intensity": 1000, "period": 60}})
            return nodes.start(path, app or make_app(), clock=clock)
        yield start


@pytest.fixture
def channel_to(tmp_path):
    with TestNodes(tmp_path) as nodes:
        yield nodes.channel


# ---- the solver side -------------------------------------------------------------------------
def sign(account, text: str) -> str:
    return "0x" + Account.sign_message(encode_defunct(text=text), account.key).signature.hex() \
        .removeprefix("0x")


class SolverClient:
    """A solver on a real channel: login (challenge + EIP-191), then one Session stream.

    Requests are queued (``send``/``bid``/``heartbeat``/``fill``); responses are collected
    by a thread into ``messages`` (unless ``read=False``: a solver that stops reading;
    ``start_reading`` later drains what was buffered and the final status).
    """

    def __init__(self, channel: grpc.Channel, account=None) -> None:
        self.stub = solver_pb2_grpc.SolverServiceStub(channel)
        self.account = account or Account.create()
        self.address = self.account.address
        self.messages: list[solver_pb2.ServerMessage] = []
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self.error: grpc.RpcError | None = None
        self._out: queue.Queue = queue.Queue()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.call = None

    # ---- login -----------------------------------------------------------------------
    def challenge(self, solver: str | None = None) -> solver_pb2.Challenge:
        return self.stub.GetChallenge(solver_pb2.GetChallengeRequest(solver=solver or self.address))

    def hello(self, chains: Iterable[str] = CHAINS, tokens: Iterable[str] = (), *,
              challenge: str | None = None, signer=None, solver: str | None = None
              ) -> solver_pb2.Hello:
        text = challenge if challenge is not None else self.challenge().message
        return solver_pb2.Hello(solver=solver or self.address, challenge=text,
                                signature=sign(signer or self.account, text),
                                chains=list(chains), tokens=list(tokens))

    def connect(self, chains: Iterable[str] = CHAINS, tokens: Iterable[str] = (), *,
                hello: solver_pb2.Hello | None = None,
                first: solver_pb2.SolverMessage | None = None,
                read: bool = True, welcome: bool = True) -> SolverClient:
        if first is None:
            first = solver_pb2.SolverMessage(hello=hello or self.hello(chains, tokens))
        self._out.put(first)
        self.call = self.stub.Session(self._requests())
        if read:
            self.start_reading()
            if welcome:
                self.wait_for("welcome")
        return self

    def _requests(self):
        while True:
            item = self._out.get()
            if item is None:
                return
            yield item

    def start_reading(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for msg in self.call:
                with self._cond:
                    self.messages.append(msg)
                    self._cond.notify_all()
            code, details = self.call.code(), self.call.details()
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            self.error = exc
        with self._cond:
            self.code, self.details = code, details or ""
            self._cond.notify_all()

    # ---- sending -----------------------------------------------------------------------
    def send(self, **kind: Any) -> None:
        self._out.put(solver_pb2.SolverMessage(**kind))

    def bid(self, intent_id: str, amount: int | str) -> None:
        self.send(bid=solver_pb2.Bid(intent_id=intent_id, output_amount=str(amount)))

    def heartbeat(self, seq: int = 0) -> None:
        self.send(heartbeat=solver_pb2.Heartbeat(seq=seq))

    def fill(self, intent_id: str, chain: str, tx_hash: str, kind: str = "open") -> None:
        self.send(fill_report=solver_pb2.FillReport(intent_id=intent_id, chain=chain,
                                                    tx_hash=tx_hash, kind=kind))

    def half_close(self) -> None:
        self._out.put(None)

    def cancel(self) -> None:
        self._out.put(None)
        if self.call is not None:
            self.call.cancel()

    # ---- waiting -----------------------------------------------------------------------
    def of(self, kind: str) -> list:
        """Messages of ``kind``; "offer" is each offer of the rounds' ``offers`` messages."""
        with self._cond:
            if kind == "offer":
                return [o for m in self.messages if m.WhichOneof("kind") == "offers"
                        for o in m.offers.offers]
            return [getattr(m, kind) for m in self.messages if m.WhichOneof("kind") == kind]

    def wait_for(self, kind: str, pred: Callable[[Any], bool] = lambda m: True, *,
                 count: int = 1, timeout: float = 10.0) -> Any:
        """The ``count``-th message of ``kind`` matching ``pred`` (fails if the stream ends)."""
        def found():
            hits = [m for m in self.of(kind) if pred(m)]
            return hits[count - 1] if len(hits) >= count else None
        with self._cond:
            ok = self._cond.wait_for(lambda: found() is not None or self.code is not None, timeout)
            hit = found()
        if hit is None:
            raise AssertionError(f"no {kind} (#{count}) within {timeout}s; stream ended with "
                                 f"{self.code} {self.details!r}" if ok else
                                 f"no {kind} (#{count}) within {timeout}s; got "
                                 f"{[m.WhichOneof('kind') for m in self.messages]}")
        return hit

    def wait_closed(self, timeout: float = 10.0) -> tuple[grpc.StatusCode, str]:
        with self._cond:
            if not self._cond.wait_for(lambda: self.code is not None, timeout):
                raise AssertionError(f"stream still open after {timeout}s")
            return self.code, self.details
