"""``orbital.v1.SolverService``: challenge login and the bidirectional solver session.

GetChallenge hands out a single-use text to sign with EIP-191 (personal_sign). The text
carries the node name, the solver, an expiry, a random nonce and an HMAC under a secret
made when the service is built, so the server checks a challenge without storing it;
*single use* needs memory, but only of the nonces already used, kept until they expire
(on the gRPC loop thread, so no lock). A node restart (new secret) voids all challenges.

Session: the first message must be a hello; it is checked in this order, each failure a
precise status that ends the stream: solver address (INVALID_ARGUMENT), challenge shape,
HMAC, solver, expiry, reuse (UNAUTHENTICATED), signature recovers the solver
(UNAUTHENTICATED), ``intents.allowed_solvers`` (PERMISSION_DENIED), chains and tokens
known (INVALID_ARGUMENT with the field), one session per solver (ALREADY_EXISTS). Then the
session actor starts under ``intents/solvers`` and the stream is two halves on the loop:
a reader task turning each solver message into a tell to that actor, and the handler
draining the session's :class:`~runtime.grpc.Outbox` (bounded: a solver that stops
reading is cut with RESOURCE_EXHAUSTED). When the stream ends (either side) the session
actor is told :class:`StreamEnded` by reference, not by path, so a stale end can never stop
a newer session of the same solver.
"""

from __future__ import annotations


import asyncio
import hashlib
import hmac
import re
import secrets
import datetime as dt
import heapq

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_address, to_checksum_address
from google.protobuf.timestamp_pb2 import Timestamp

from actors.book import Capabilities, IntentsConfig, book_forwarder
from actors import BOOK_PATH, SOLVERS_PATH
from chains.directory import Directory, UnknownName, intent_chains_of
from protocol.accounts import SOLANA, is_solana_signature
from orbital.v1 import solver_pb2, solver_pb2_grpc
from protocol.evidence import MAX_MISMATCH_REASON
from runtime import (ActorUnavailable, AlreadyExists, DeadlineExceeded, FailedPrecondition,
                     InvalidArgument, PermissionDenied, ResourceExhausted, StartChild,
                     Unauthenticated, Unavailable)
from runtime.grpc import Forwarder, Outbox, stream, unary

from ._flood import MessageLimits, SessionCaps, backpressure
from ._session import (SessionSpec, SolverBid, SolverDecline, SolverFill, SolverGetRecord,
                       SolverHeartbeat, SolverMessage, SolverMismatch, StreamEnded, session_spec)

__all__ = ["SolverServicer", "Challenges", "capabilities", "solver_service"]

_HEADER = "Orbital solver session"
_CHALLENGE = re.compile(
    _HEADER + r"\nnode: (?P<node>[A-Za-z0-9_.\-]{1,64})\nsolver: (?P<solver>0x[0-9a-fA-F]{40})"
    r"\nexpires: (?P<expires>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\nnonce: (?P<nonce>[0-9a-f]{32})"
    r"\nmac: (?P<mac>[0-9a-f]{64})")
_MAX_CHALLENGE = 512
_MAX_NAMES = 256   # hello.chains / hello.tokens entries (a config has a handful)
_MAX_NAME = 128    # characters per entry (a name, a chain id or a 0x address)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TX = re.compile(r"0x[0-9a-fA-F]{64}")
_SIG = re.compile(r"0x[0-9a-fA-F]{130}")
_SERVICE = solver_pb2.DESCRIPTOR.services_by_name["SolverService"].full_name
MAX_DECLINE_REASON = 1024


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromSeconds(int(seconds))
    return ts


def _address(value: str, field: str) -> str:
    if not _ADDRESS.fullmatch(value) or not is_address(value):
        raise InvalidArgument(f"{field} must be a 0x-prefixed 20-byte hex address (checksum "
                              f"or lowercase), got {value[:50]!r}", field=field)
    checksum = to_checksum_address(value)
    if value not in (checksum, value.lower(), "0x" + value[2:].upper()):
        raise InvalidArgument(f"{field} has a wrong EIP-55 checksum (mixed case that is not "
                              f"{checksum}); send the checksum or all lowercase", field=field)
    return checksum


class Challenges:
    """Issue and check challenges; :meth:`consume` only on the gRPC loop thread."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._key = secrets.token_bytes(32)
        self._used: dict[str, float] = {}           # nonce -> expiry (unix seconds)
        self._expiry: list[tuple[float, str]] = []  # heap, to forget expired nonces

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def issue(self, solver: str, ttl: float, now: float) -> tuple[str, float]:
        expires = int(now + ttl) + 1  # whole seconds, never shorter than ttl
        stamp = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = (f"{_HEADER}\nnode: {self.node}\nsolver: {solver}\nexpires: {stamp}\n"
                f"nonce: {secrets.token_hex(16)}")
        return f"{body}\nmac: {self._mac(body)}", float(expires)

    def check(self, text: str, solver: str, now: float) -> tuple[str, float]:
        """(nonce, expiry) of a valid, unexpired, unused challenge for ``solver``."""
        field = "hello.challenge"
        m = _CHALLENGE.fullmatch(text) if len(text) <= _MAX_CHALLENGE else None
        if m is None:
            raise Unauthenticated("hello.challenge is not a challenge from GetChallenge "
                                  "(send Challenge.message exactly as received)", field=field)
        body = text[:text.rindex("\nmac: ")]
        if not hmac.compare_digest(self._mac(body), m["mac"]):
            raise Unauthenticated("hello.challenge was not issued by this node (its mac does "
                                  "not verify; after a node restart, request a new one)",
                                  field=field)
        if m["solver"] != solver:
            raise Unauthenticated(f"hello.challenge was issued for {m['solver']}, not for "
                                  f"hello.solver {solver}", field=field)
        expires = dt.datetime.strptime(m["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.UTC).timestamp()
        if now >= expires:
            raise Unauthenticated(f"hello.challenge expired at {m['expires']}; request a new "
                                  "one with GetChallenge", field=field)
        if m["nonce"] in self._used:
            raise Unauthenticated("hello.challenge was already used; request a new one for "
                                  "each session", field=field)
        return m["nonce"], expires

    def consume(self, nonce: str, expires: float, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            self._used.pop(heapq.heappop(self._expiry)[1], None)
        if nonce in self._used:  # a concurrent hello with the same challenge won the race
            raise Unauthenticated("hello.challenge was already used; request a new one for "
                                  "each session", field="hello.challenge")
        self._used[nonce] = expires
        heapq.heappush(self._expiry, (expires, nonce))


def _recover(text: str, signature: str) -> str:
    return Account.recover_message(encode_defunct(text=text), signature=signature)


def capabilities(directory: Directory, chains: list[str], tokens: list[str]) -> Capabilities:
    """hello.chains / hello.tokens -> the book's Capabilities (chain ids, output tokens)."""
    for field, values in (("hello.chains", chains), ("hello.tokens", tokens)):
        if len(values) > _MAX_NAMES:
            raise InvalidArgument(f"{field} has {len(values)} entries; at most {_MAX_NAMES}",
                                  field=field)
        for i, key in enumerate(values):
            if len(key) > _MAX_NAME:
                raise InvalidArgument(f"{field}[{i}] is {len(key)} characters long; a chain "
                                      f"or token name is at most {_MAX_NAME}",
                                      field=f"{field}[{i}]")
    if not chains:
        raise InvalidArgument("hello.chains is empty: name at least one chain (config name "
                              "or chain id) the solver opens and fills on", field="hello.chains")
    refs = []
    for i, key in enumerate(chains):
        try:
            refs.append(directory.chain(key))
        except UnknownName as exc:
            raise InvalidArgument(str(exc), field=f"hello.chains[{i}]") from None
    if not tokens:
        return Capabilities(frozenset(r.chain_id for r in refs), None)
    out: set[tuple[int, str]] = set()
    for i, key in enumerate(tokens):
        found = []
        for ref in refs:
            try:
                found.append((ref.chain_id, directory.token(ref.name, key).address))
            except UnknownName:
                continue
        if not found:
            raise InvalidArgument(f"unknown token {key[:50]!r} on every chain of hello.chains "
                                  f"({', '.join(r.name for r in refs)})",
                                  field=f"hello.tokens[{i}]")
        out.update(found)
    return Capabilities(frozenset(r.chain_id for r in refs), frozenset(out))


class SolverServicer(solver_pb2_grpc.SolverServiceServicer):
    def __init__(self, node) -> None:
        self.node = node
        self.metrics = node.metrics
        self.challenges = Challenges(node.config.node.name)
        self.sessions = node.metrics.gauge("orbital_solver_sessions", "Connected solver sessions")
        self.caps = SessionCaps()

    def _cfg(self) -> IntentsConfig:
        return self.node.config.section("intents", IntentsConfig)

    # ---- several nodes: sessions live where the book leads (docs/cluster.md) --------------
    def _forwarder(self) -> Forwarder:
        return book_forwarder(self.node)

    async def _book_elsewhere(self, context) -> bool:
        """Another node holds lease "book": relay there. A call relayed here already is
        never relayed again (the lease moved meanwhile: UNAVAILABLE, the solver
        reconnects); on a single node (SQLite) this is one cached lookup a second."""
        if not await self._forwarder().elsewhere():
            return False
        if Forwarder.was_forwarded(context):
            raise Unavailable("this node's intent book stands by (the book's lease moved "
                              "while the session was relayed here); reconnect")
        return True

    def _wall(self) -> float:
        return self.node.clock.wall()

    # ---- GetChallenge --------------------------------------------------------------------
    @unary("SolverService/GetChallenge")
    async def GetChallenge(self, request, context):
        if await self._book_elsewhere(context):   # the session will be relayed there too
            return await self._forwarder().forward(f"/{_SERVICE}/GetChallenge", request,
                                                   solver_pb2.Challenge, context)
        solver = _address(request.solver, "solver")
        if int(solver, 16) == 0:
            raise InvalidArgument("solver is the zero address, which has no key to sign a "
                                  "challenge with; send the solver's own address", field="solver")
        text, expires = self.challenges.issue(solver, self._cfg().challenge_ttl, self._wall())
        return solver_pb2.Challenge(message=text, expires_at=_ts(expires))

    # ---- Session -------------------------------------------------------------------------
    @stream("SolverService/Session")
    async def Session(self, request_iterator, context):
        cfg = self._cfg()
        peer = await self._forwarder().peer(context)
        self.caps.enter(peer, cfg)   # before the hello: a refused stream costs no signature work
        try:
            requests = request_iterator.__aiter__()
            hello = await self._hello(requests, cfg)
            if await self._book_elsewhere(context):
                # Another node's book runs the auctions: the session lives there, and this
                # node relays the stream (limits applied here first; the hello is checked
                # there, against that node's challenge).
                async for msg in self._forwarder().relay(
                        f"/{_SERVICE}/Session", solver_pb2.SolverMessage(hello=hello),
                        requests, solver_pb2.ServerMessage, context):
                    yield msg
                return
            spec, directory = await self._admit(hello, cfg, context)
            ref = await self._start(spec)
            self.sessions.inc()
            reader = asyncio.ensure_future(self._read(requests, ref, spec.outbox, directory,
                                                      MessageLimits(cfg, self.node.clock),
                                                      cfg.solver_backlog))
            try:
                async for msg in spec.outbox.drain():
                    yield msg
            finally:
                self.sessions.dec()
                reader.cancel()
                _tell(ref, StreamEnded())
        finally:
            self.caps.leave(peer)

    async def _hello(self, requests, cfg: IntentsConfig) -> solver_pb2.Hello:
        try:
            first = await asyncio.wait_for(requests.__anext__(), cfg.heartbeat_timeout)
        except TimeoutError:
            raise DeadlineExceeded(f"no hello within {cfg.heartbeat_timeout:g}s of opening "
                                   "the session") from None
        except StopAsyncIteration:
            raise InvalidArgument("the stream ended before a hello", field="hello") from None
        if first.WhichOneof("kind") != "hello":
            raise InvalidArgument("the first message of a session must be a hello "
                                  f"(got {first.WhichOneof('kind') or 'an empty message'})",
                                  field="hello")
        return first.hello

    async def _admit(self, hello, cfg: IntentsConfig, context) -> tuple[SessionSpec, Directory]:
        solver = _address(hello.solver, "hello.solver")
        nonce, expires = self.challenges.check(hello.challenge, solver, self._wall())
        if not _SIG.fullmatch(hello.signature):
            raise Unauthenticated("hello.signature must be a 65-byte EIP-191 signature as "
                                  "0x + 130 hex digits", field="hello.signature")
        try:
            signer = await self.node.grpc.call(_recover, hello.challenge, hello.signature)
        except Exception:  # noqa: BLE001 - any undecodable signature is the caller's
            raise Unauthenticated("hello.signature does not recover an address (bad v, r "
                                  "or s)", field="hello.signature") from None
        if signer != solver:
            raise Unauthenticated(f"hello.signature recovers {signer}, not hello.solver "
                                  f"{solver}: sign Challenge.message with personal_sign "
                                  "(EIP-191) using the solver's key", field="hello.signature")
        self.challenges.consume(nonce, expires, self._wall())
        allowed = {a.lower() for a in cfg.allowed_solvers}
        if allowed and solver.lower() not in allowed:
            raise PermissionDenied(f"solver {solver} is not in intents.allowed_solvers",
                                   field="hello.solver")
        directory = Directory(intent_chains_of(self.node.config))
        caps = capabilities(directory, list(hello.chains), list(hello.tokens))
        outbox = Outbox(context, cfg.stream_buffer, what="solver session")
        return SessionSpec(solver, caps, outbox, cfg, secrets.token_hex(8)), directory

    async def _start(self, spec: SessionSpec):
        """Start the session actor; returns its ref. A handler cancelled meanwhile (the
        solver hung up) still gets its session stopped once the start completes."""
        fut = asyncio.ensure_future(self.node.grpc.call(self._start_blocking, spec))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            fut.add_done_callback(
                lambda f: f.cancelled() or f.exception() or _tell(f.result(), StreamEnded()))
            raise

    def _start_blocking(self, spec: SessionSpec):
        registry = self.node.registry
        registry.lookup(BOOK_PATH)  # ActorUnavailable (UNAVAILABLE, retryable) if not running
        try:
            path = registry.ask(SOLVERS_PATH, StartChild(session_spec(spec)))
        except AlreadyExists:
            raise AlreadyExists(f"solver {spec.solver} already has a session on this node "
                                "(one per solver; after a dropped stream, retry in a moment)",
                                field="hello.solver") from None
        except FailedPrecondition as exc:
            raise Unavailable(f"the solver session could not start ({exc.message}); retry "
                              "in a moment") from None
        try:
            return registry.lookup(path)
        except ActorUnavailable:
            raise Unavailable("the solver session ended as it started (the intent book "
                              "restarting?); retry in a moment") from None

    async def _read(self, requests, ref, outbox: Outbox, directory: Directory,
                    limits: MessageLimits, backlog: int) -> None:
        """Solver -> session actor. Protocol errors end the stream with the field at fault;
        a flood (:mod:`._flood`) with RESOURCE_EXHAUSTED; a half-close by the solver ends
        it normally after what is queued."""
        try:
            async for m in requests:
                which = m.WhichOneof("kind")
                limits.check(which)
                await backpressure(ref, backlog)
                msg: SolverMessage
                if which == "heartbeat":
                    msg = SolverHeartbeat(m.heartbeat.seq)
                elif which == "bid":
                    msg = SolverBid(m.bid.intent_id, m.bid.output_amount)
                elif which == "fill_report":
                    msg = _fill(m.fill_report, directory)
                elif which == "escrow_mismatch":
                    msg = _mismatch(m.escrow_mismatch, directory)
                elif which == "decline":
                    msg = _decline(m.decline)
                elif which == "get_record":
                    msg = SolverGetRecord()
                elif which == "hello":
                    raise InvalidArgument("hello sent twice: one per session", field="hello")
                else:
                    raise InvalidArgument("empty SolverMessage: set one of bid, fill_report, "
                                          "escrow_mismatch, decline, get_record, heartbeat",
                                          field="kind")
                if not _tell(ref, msg):
                    return  # the session ended; its reason is already in the outbox
            outbox.close(None)
        except (InvalidArgument, ResourceExhausted) as exc:
            outbox.close(exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the call broke (client gone): the handler ends
            outbox.close(Unavailable("solver stream broken"))


def _fill(report, directory: Directory) -> SolverFill:
    if report.kind not in ("open", "fill"):
        raise InvalidArgument("fill_report.kind must be 'open' or 'fill'",
                              field="fill_report.kind")
    if not _TX.fullmatch(report.intent_id):
        raise InvalidArgument("fill_report.intent_id must be 0x followed by 64 hex digits",
                              field="fill_report.intent_id")
    try:
        ref = directory.chain(report.chain)
    except UnknownName as exc:
        raise InvalidArgument(str(exc), field="fill_report.chain") from None
    if ref.kind == SOLANA:
        if not is_solana_signature(report.tx_hash):
            raise InvalidArgument(f"fill_report.tx_hash must be a Solana transaction signature "
                                  f"(base58, 64 bytes) on {ref.name}",
                                  field="fill_report.tx_hash")
    elif not _TX.fullmatch(report.tx_hash):
        raise InvalidArgument("fill_report.tx_hash must be 0x followed by 64 hex digits",
                              field="fill_report.tx_hash")
    return SolverFill(report.intent_id, ref.name, report.tx_hash, report.kind)


def _mismatch(report, directory: Directory) -> SolverMismatch:
    """An escrow_mismatch, checked for shape like a fill report: a malformed one is a protocol
    error. The reason is bounded (the book stores it in the intent's history)."""
    if not _TX.fullmatch(report.intent_id):
        raise InvalidArgument("escrow_mismatch.intent_id must be 0x followed by 64 hex digits",
                              field="escrow_mismatch.intent_id")
    if not 0 < len(report.reason) <= MAX_MISMATCH_REASON:
        raise InvalidArgument(f"escrow_mismatch.reason is {len(report.reason)} characters long; "
                              f"say what differs in 1 to {MAX_MISMATCH_REASON}",
                              field="escrow_mismatch.reason")
    try:
        chain = directory.chain(report.chain).name
    except UnknownName as exc:
        raise InvalidArgument(str(exc), field="escrow_mismatch.chain") from None
    return SolverMismatch(report.intent_id, chain, report.reason)


def _decline(decline) -> SolverDecline:
    """A decline, checked for shape: a malformed one is a protocol error (the stream ends)."""
    if not _TX.fullmatch(decline.intent_id):
        raise InvalidArgument("decline.intent_id must be 0x followed by 64 hex digits",
                              field="decline.intent_id")
    if len(decline.reason) > MAX_DECLINE_REASON:
        raise InvalidArgument(f"decline.reason is {len(decline.reason)} characters long; at "
                              f"most {MAX_DECLINE_REASON}", field="decline.reason")
    return SolverDecline(decline.intent_id.lower(), decline.reason)


def _tell(ref, message) -> bool:
    try:
        ref.tell(message)
        return True
    except Exception:  # noqa: BLE001 - pykka.ActorDeadError: the session is gone
        return False


def solver_service(node):
    name = solver_pb2.DESCRIPTOR.services_by_name["SolverService"].full_name
    return (name, solver_pb2_grpc.add_SolverServiceServicer_to_server, SolverServicer(node))
