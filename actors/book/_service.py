"""``orbital.v1.IntentService``: submit, read, cancel and watch intents.

Checks that need no state (size, typed data, config, deadlines, signature) run here, in
the gRPC worker threads, in parallel; the book only sees orders that are well formed and
signed by their user, and answers a submission once it is committed. A signature that
does not recover to its user is the user's only if the user is a contract wallet that
accepts it (ERC-1271): that one question goes to the origin chain, on a worker
(:mod:`._wallets`), and costs an ``eth_getCode`` for every such submission. Reads (Get, List,
the first state of Watch) come from the store, not through the book's mailbox.

Every node takes submissions and cancellations, but one book per database commits them:
the holder of lease "book". A node whose book stands by (it answers
:class:`runtime.LeaseLost`) forwards the call to the holder (:class:`runtime.grpc.Forwarder`)
after applying its own rate limits, and passes the holder's answer back unchanged; for a
second after that it forwards at once, without verifying what the holder verifies again.
docs/cluster.md has the whole picture.
"""

from __future__ import annotations


import asyncio
import re
import time
import uuid
from dataclasses import dataclass, replace

import grpc



from actors import ADMISSION_PATH, BOOK_PATH
from actors.admission import CheckOrder, admission_config
from chains.directory import Directory, intent_chains_of
from orbital.v1 import intents_pb2, intents_pb2_grpc
from protocol import (CancelMessage, GaslessOrder, SignatureError, TypedDataError, cancel_digest,
                      order_digest, parse_order_typed_data, recover_cancel_signer,
                      recover_order_signer)
from runtime import (ActorUnavailable, FailedPrecondition, InvalidArgument, LeaseLost, NotFound,
                     OrbitalError, RateLimiter, ResourceExhausted, Unauthenticated, Unavailable)
from runtime.grpc import (Forwarder, Outbox, Relayed, decode_token, encode_token, filters_digest,
                          peer_host, status_proto, stream, unary)
from chains import fields
from chains.evm import ChainCursor

from . import _store
from ._config import IntentsConfig
from ._forward import book_forwarder
from ._explain import ChainDepth, RouteDurations, explanation
from ._messages import Cancel, ExplainLive, Submit, SubmitBatch, Subscribe, Unsubscribe
from ._models import AuctionRoundRow, IntentRow
from ._proto import intent_pb, status_from_pb, update_pb
from ._rounds import StoredRound, decode_bids
from ._tally import SubmissionTally
from ._validate import check_order
from ._views import TERMINAL, IntentUpdateView, IntentView, Status
from ._wallets import WalletSignatures

__all__ = ["IntentServicer", "intent_service", "DEFAULT_PAGE", "MAX_PAGE"]

DEFAULT_PAGE, MAX_PAGE = 50, 500
_SIG = re.compile(r"0x[0-9a-fA-F]{130}")
_ASK_TIMEOUT = 10.0
_SERVICE = intents_pb2.DESCRIPTOR.services_by_name["IntentService"].full_name
# After the local book answered that it stands by, submissions are forwarded at once
# (no verification, no book ask on this node) for this long; a failure ends it sooner.
_ELSEWHERE = 1.0
_CODE_NAMES = {c.value[0]: c.name for c in grpc.StatusCode}


_intent_id = fields.order_id


def _signature(value: str) -> str:
    if not value:
        raise InvalidArgument("signature is required (0x + 130 hex digits)", field="signature")
    if not _SIG.fullmatch(value):
        raise InvalidArgument("signature must be 0x followed by 130 hex digits (r, s, v)",
                              field="signature")
    return value.lower()


def _address(value: str, field: str) -> str:
    return fields.address(value, field, allow_zero=True)


@dataclass(frozen=True)
class _AskWallet:
    """A verified order whose signature does not recover to its user: it is the user's only
    if the user is a contract wallet that says so (ERC-1271, ._wallets) for ``digest``, the
    EIP-712 digest the signature was checked against (each signing form has its own);
    ``refusal`` is the answer when the user has no code."""

    submit: Submit
    digest: bytes
    refusal: Unauthenticated


class IntentServicer(intents_pb2_grpc.IntentServiceServicer):
    def __init__(self, node) -> None:
        self.node = node
        self.metrics = node.metrics
        self._dir: tuple[object, Directory] | None = None
        self._limits: tuple[IntentsConfig, RateLimiter, RateLimiter] | None = None
        self._elsewhere_until = 0.0
        self.tally = SubmissionTally(node)
        self.wallets = WalletSignatures(node)
        self._forwards = node.metrics.counter(
            "orbital_intents_forwarded_total", "calls this node forwarded to the node whose "
            "book holds lease book, by method and the status they ended with",
            ("method", "code"))

    # ---- config (follows reloads) ---------------------------------------------------
    def _cfg(self) -> IntentsConfig:
        return self.node.config.section("intents", IntentsConfig)

    def _directory(self) -> Directory:
        config = self.node.config
        if self._dir is None or self._dir[0] is not config:
            self._dir = (config, Directory(intent_chains_of(config)))
        return self._dir[1]

    # ---- SubmitIntent ---------------------------------------------------------------
    def _rate_limit(self, context, orders: int = 1, *, trusted: bool = False) -> None:
        """The submission rate limits, on the loop, before any parsing or signature work:
        per calling IP (``intents.submit_peer_rate``), then node-wide (``submit_rate``; a
        call refused per peer spends no node-wide token, so one flooding peer cannot use
        up the others' share). A SubmitIntents call costs one token per order. Buckets start
        afresh when a reload changes the section. A call ``trusted`` (forwarded by another
        node of the cluster, which applied the per-peer limit to its caller) skips the
        per-peer limit: the forwarding node is not one peer; the node-wide one applies."""
        cfg = self._cfg()
        if self._limits is None or self._limits[0] is not cfg:
            self._limits = (cfg, RateLimiter(cfg.submit_peer_rate.rate, cfg.submit_peer_rate.burst),
                            RateLimiter(cfg.submit_rate.rate, cfg.submit_rate.burst))
        _, per_peer, per_node = self._limits
        now = self.node.clock.now()
        peer = peer_host(context)
        if not trusted and not per_peer.allow(peer, now, orders):
            wait = per_peer.retry_after(peer, now, orders)
            raise ResourceExhausted(f"too many submissions from {peer}: at most "
                                    f"{cfg.submit_peer_rate.rate:g}/s, burst "
                                    f"{cfg.submit_peer_rate.burst} (intents.submit_peer_rate); "
                                    f"retry in {wait:.1f}s")
        if not per_node.allow("", now, orders):
            wait = per_node.retry_after("", now, orders)
            raise ResourceExhausted(f"the node takes at most {cfg.submit_rate.rate:g} "
                                    f"submissions/s, burst {cfg.submit_rate.burst} "
                                    f"(intents.submit_rate); retry in {wait:.1f}s")

    def _verify(self, req) -> Submit | _AskWallet:
        """Everything but the book: size, typed data, config, deadlines, signature (a
        signature that does not recover to the user: for the user's wallet to judge)."""
        cfg = self._cfg()
        size = len(req.typed_data.encode())
        if size > cfg.max_typed_data_bytes:
            raise ResourceExhausted(f"typed_data is {size} bytes; the limit is "
                                    f"{cfg.max_typed_data_bytes}", field="typed_data")
        if not req.typed_data:
            raise InvalidArgument("typed_data is required: the EIP-712 JSON from GetQuote",
                                  field="typed_data")
        signature = _signature(req.signature)
        try:
            order = parse_order_typed_data(req.typed_data)
        except TypedDataError as exc:
            field = exc.field if exc.field.startswith("typed_data") else f"typed_data.{exc.field}"
            raise InvalidArgument(f"{field}: {exc.reason}", field=field) from None
        check_order(order, self._directory(), cfg, time.time())
        submit = Submit(order, req.typed_data, signature, "0x" + order.order_id.hex())
        try:
            # The parsed order hashed by hand and recovered with coincurve (protocol.signatures;
            # property-tested against eth-account's walk of the typed data).
            signer = recover_order_signer(order, signature)
        except SignatureError as exc:
            return _AskWallet(submit, order_digest(order),
                              Unauthenticated(str(exc), field="signature"))
        if signer != order.user:
            return _AskWallet(submit, order_digest(order), Unauthenticated(
                f"the signature is by {signer}, not by the order's user {order.user}",
                field="signature"))
        return submit

    async def _authenticate(self, checked: Submit | _AskWallet) -> Submit:
        """The submit, once its signature is the user's: at once for an EOA's own signature,
        else by the user's contract wallet on the origin chain (one eth_call, on a worker)."""
        if isinstance(checked, Submit):
            return checked
        o: GaslessOrder = checked.submit.order
        await self.node.grpc.call(self.wallets.verify, self._origin_name(o.origin_chain_id),
                                  o.user, checked.digest,
                                  bytes.fromhex(checked.submit.signature[2:]), checked.refusal)
        # kept with the intent: admission asks the wallet again before each round
        return replace(checked.submit, wallet_digest="0x" + checked.digest.hex())

    def _origin_name(self, chain_id: int) -> str:
        return self._directory().chain_by_id(chain_id).name

    async def _check_on_chain(self, submit: Submit) -> Submit:
        """Refuse an order its origin chain would not let be opened now (balance, allowance,
        nonce: actors.admission); the reads run in ``intents/admission``, not here. The
        submit returned carries the verdict, which the book's first round uses while fresh
        (actors.book._admit)."""
        cfg = admission_config(self.node.config)
        if not cfg.enabled:
            return submit
        o = submit.order
        check = CheckOrder(self._directory().chain_by_id(o.origin_chain_id).name, o.user,
                           o.order.input_token, o.origin_settler, o.order.input_amount, o.nonce,
                           permit2=o.permit2)
        try:
            verdict = await self.node.registry.ask_async(ADMISSION_PATH, check, _ASK_TIMEOUT)
        except Unavailable:
            if cfg.on_unreachable == "accept":   # checked again before the auction
                return submit
            raise
        if not verdict.ok:
            raise FailedPrecondition(verdict.reason(),
                                     preconditions=[v.triple() for v in verdict.violations])
        return replace(submit, verdict=verdict, checked_at=self.node.clock.now())

    @unary("IntentService/SubmitIntent")
    async def SubmitIntent(self, request, context):
        try:
            reply, here = await self._submit(request, context)
        except Relayed:
            raise   # the holder's answer: counted by the holder
        except OrbitalError as exc:
            self.tally.count(exc.code.name)
            raise
        except Exception:
            self.tally.count("INTERNAL")
            raise
        if here:
            self.tally.count("OK")
        return reply

    async def _submit(self, request, context) -> tuple[intents_pb2.Intent, bool]:
        """The accepted intent, and whether this node's book accepted it (False: the
        holder's answer, forwarded)."""
        self._rate_limit(context, trusted=await self._trusted(context))
        if self._book_elsewhere(context):
            return await self._forward("SubmitIntent", request, intents_pb2.Intent, context), False
        # CPU only (~0.1 ms): a thread hop would cost more; a contract wallet's answer is an
        # eth_call, on a worker
        submit = await self._authenticate(self._verify(request))
        submit = await self._check_on_chain(submit)
        try:
            return intent_pb(await self.node.registry.ask_async(BOOK_PATH, submit, _ASK_TIMEOUT)), True
        except LeaseLost:
            return await self._forward("SubmitIntent", request, intents_pb2.Intent, context), False

    # ---- forwarding to the book's holder ------------------------------------------------
    def _fwd(self) -> Forwarder:
        return book_forwarder(self.node)

    async def _trusted(self, context) -> bool:
        return await self._fwd().trusted(context)

    def _book_elsewhere(self, context) -> bool:
        """Another node's book took the last call this node's book could not (and this
        call was not forwarded here: that one is this node's to answer)."""
        return time.monotonic() < self._elsewhere_until and \
            not Forwarder.was_forwarded(context)

    async def _forward(self, method: str, request, response_type, context):
        """The call, answered by the node whose book holds lease "book"; never a call
        that was forwarded here already (the lease moved meanwhile: no loops)."""
        if Forwarder.was_forwarded(context):
            raise Unavailable("this node's intent book stands by (the book's lease moved "
                              "while the call was forwarded here); retry")
        self._elsewhere_until = time.monotonic() + _ELSEWHERE
        code = "OK"
        try:
            return await self._fwd().forward(f"/{_SERVICE}/{method}", request, response_type,
                                             context)
        except OrbitalError as exc:   # not answered by the holder (unknown, unreachable)
            code = exc.code.name
            self._elsewhere_until = 0.0
            raise
        except Relayed as exc:   # the holder's own answer, passed on
            code = _CODE_NAMES.get(exc.status.code, "UNKNOWN")
            if exc.status.code == grpc.StatusCode.UNAVAILABLE.value[0]:
                self._elsewhere_until = 0.0   # the holder moved or stands by: look again
            raise
        finally:
            self._forwards.labels(method, code).inc()

    # ---- SubmitIntents ---------------------------------------------------------------
    def _verify_all(self, req) -> list[Submit | _AskWallet | OrbitalError]:
        """Each order checked as SubmitIntent checks it; a refused one is its typed error."""
        cfg = self._cfg()
        n = len(req.orders)
        if n == 0:
            raise InvalidArgument(f"orders is empty: send 1 to {cfg.max_batch} signed orders",
                                  field="orders")
        if n > cfg.max_batch:
            raise InvalidArgument(f"{n} orders in one call; the limit is {cfg.max_batch} "
                                  "(intents.max_batch): split the batch", field="orders")
        out: list[Submit | _AskWallet | OrbitalError] = []
        for order in req.orders:
            try:
                out.append(self._verify(order))
            except OrbitalError as exc:
                out.append(exc)
        return out

    @unary("IntentService/SubmitIntents")
    async def SubmitIntents(self, request, context):
        try:
            reply, here = await self._submit_batch(request, context)
        except Relayed:
            raise   # the holder's answer: counted by the holder
        except Exception as exc:   # the batch as a whole: each of its orders refused
            code = exc.code.name if isinstance(exc, OrbitalError) else "INTERNAL"
            self.tally.count(code, max(1, len(request.orders)))
            raise
        if here:
            for r in reply.results:
                self.tally.count(_CODE_NAMES.get(r.error.code, "UNKNOWN")
                                 if r.HasField("error") else "OK")
        return reply

    async def _submit_batch(self, request, context) -> tuple[intents_pb2.SubmitIntentsResponse, bool]:
        """The results, and whether this node answered them (False: forwarded)."""
        self._rate_limit(context, max(1, len(request.orders)), trusted=await self._trusted(context))
        if self._book_elsewhere(context):
            return await self._forward("SubmitIntents", request,
                                       intents_pb2.SubmitIntentsResponse, context), False
        verified = await self.node.grpc.call(self._verify_all, request)

        async def on_chain(c: Submit | _AskWallet | OrbitalError) -> Submit | OrbitalError:
            if isinstance(c, OrbitalError):
                return c
            try:
                return await self._check_on_chain(await self._authenticate(c))
            except OrbitalError as exc:
                return exc
        # checked together: admission reads them in one batch per chain
        checked = await asyncio.gather(*(on_chain(c) for c in verified))
        submits = tuple(c for c in checked if isinstance(c, Submit))
        try:
            stored = iter(await self.node.registry.ask_async(BOOK_PATH, SubmitBatch(submits),
                                                              _ASK_TIMEOUT) if submits else ())
        except LeaseLost:
            return await self._forward("SubmitIntents", request,
                                       intents_pb2.SubmitIntentsResponse, context), False
        results = []
        for c in checked:
            got = c if isinstance(c, OrbitalError) else next(stored)
            if isinstance(got, OrbitalError):
                results.append(intents_pb2.SubmitIntentResult(
                    error=status_proto(got, "IntentService/SubmitIntents")))
            else:
                results.append(intents_pb2.SubmitIntentResult(intent=intent_pb(got)))
        return intents_pb2.SubmitIntentsResponse(results=results), True

    # ---- GetIntent / ListIntents ----------------------------------------------------
    def _get(self, intent_id: str):
        with self.node.store.connection():
            view = _store.load_view(intent_id)
        if view is None:
            raise NotFound(f"no intent {intent_id}", field="id")
        return view

    @unary("IntentService/GetIntent")
    async def GetIntent(self, request, context):
        oid = _intent_id(request.id, "id")
        return intent_pb(await self.node.grpc.call(self._get, oid))

    def _list(self, req) -> intents_pb2.ListIntentsResponse:
        size = req.page_size or DEFAULT_PAGE
        if size > MAX_PAGE:
            raise InvalidArgument(f"page_size must be at most {MAX_PAGE}", field="page_size")
        query = IntentRow.select()
        user = _address(req.user, "user") if req.user else ""
        if user:
            query = query.where(IntentRow.user == user)
        if req.status:
            status = status_from_pb(req.status)
            if status is None:
                raise InvalidArgument(f"unknown status {req.status}", field="status")
            query = query.where(IntentRow.status == status.value)
        digest = filters_digest(user, req.status)
        if req.page_token:
            at, oid = decode_token(req.page_token, digest, "ListIntents", _position)
            query = query.where((IntentRow.created_at < at) |
                                ((IntentRow.created_at == at) & (IntentRow.id < oid)))
        query = query.order_by(IntentRow.created_at.desc(), IntentRow.id.desc()).limit(size + 1)
        with self.node.store.connection():
            rows = list(query)
            views = _store.load_views(rows[:size])
        token = encode_token([rows[size - 1].created_at, rows[size - 1].id], digest) \
            if len(rows) > size else ""
        return intents_pb2.ListIntentsResponse(intents=[intent_pb(v) for v in views],
                                               next_page_token=token)

    @unary("IntentService/ListIntents")
    async def ListIntents(self, request, context):
        return await self.node.grpc.call(self._list, request)

    # ---- CancelIntent ---------------------------------------------------------------
    def _cancel(self, req) -> Cancel:
        """The checked cancellation (a store read and a signature recovery: on a worker)."""
        oid = _intent_id(req.id, "id")
        signature = _signature(req.signature)
        view = self._get(oid)
        if view.nonce is None:
            raise InvalidArgument("this order was opened on chain; it cannot be cancelled "
                                  "off-chain", field="id")
        # The cheap check before the expensive one: a signature is recovered only for an
        # intent that can still be cancelled (the book checks again, at its commit).
        if view.status not in (Status.PENDING, Status.ASSIGNED):
            raise FailedPrecondition(f"intent {view.id} is {view.status.value}; only PENDING or "
                                     "ASSIGNED intents can be cancelled")
        cancel = CancelMessage(view.origin_chain_id, view.origin_settler, bytes.fromhex(oid[2:]),
                               view.nonce)
        refusal: Unauthenticated | None = None
        try:
            signer = recover_cancel_signer(cancel, signature)
        except SignatureError as exc:
            refusal = Unauthenticated(str(exc), field="signature")
        else:
            if signer != view.user:
                refusal = Unauthenticated(
                    f"the cancellation is signed by {signer}, not by the intent's user "
                    f"{view.user} (sign CancelOrder, docs/erc7683.md)", field="signature")
        if refusal is not None:   # a contract wallet's cancellation: its own answer (ERC-1271)
            self.wallets.verify(self._origin_name(view.origin_chain_id), view.user,
                                cancel_digest(cancel), bytes.fromhex(signature[2:]), refusal)
        return Cancel(oid, view.user)

    @unary("IntentService/CancelIntent")
    async def CancelIntent(self, request, context):
        if self._book_elsewhere(context):
            return await self._forward("CancelIntent", request, intents_pb2.Intent, context)
        cancel = await self.node.grpc.call(self._cancel, request)
        try:
            return intent_pb(await self.node.registry.ask_async(BOOK_PATH, cancel, _ASK_TIMEOUT))
        except LeaseLost:
            return await self._forward("CancelIntent", request, intents_pb2.Intent, context)

    # ---- ExplainIntent ----------------------------------------------------------------
    def _explain_reads(self, intent_id: str) -> tuple[IntentView, RouteDurations | None,
                                                      ChainDepth | None, dict[int, StoredRound]]:
        """The stored half of an explanation (a worker thread): the intent with its
        history, its route's observed durations (the analytics' own query, so the ETA and
        GetSummary agree), and for a FILLED intent its fill's depth as the attester counts
        it (head seen by the destination chain's watcher - fill block); and the closed
        rounds the book stored with each award (``auction_round``), by award version."""
        # here, not at the top: actors.analytics imports this package
        from actors.analytics import Scope, summary
        with self.node.store.connection() as db:
            view = _store.load_view(intent_id)
            if view is None:
                raise NotFound(f"no intent {intent_id}", field="id")
            closed = {r.version: StoredRound(r.round, r.bids_received, decode_bids(r.bids))
                      for r in AuctionRoundRow.select().where(AuctionRoundRow.intent == intent_id)}
            durations = None
            if view.status not in TERMINAL:
                f = summary(db, Scope(0.0, time.time() + 1.0, (view.origin_chain,),
                                      (view.destination_chain,), (view.input_token,),
                                      (view.output_token,)))
                durations = RouteDurations(
                    (f.submit_to_fill.count, f.submit_to_fill.p50, f.submit_to_fill.p90),
                    (f.fill_to_settle.count, f.fill_to_settle.p50, f.fill_to_settle.p90))
            depth = None
            chain = intent_chains_of(self.node.config).get(view.destination_chain) \
                if view.status is Status.FILLED else None
            settle_depth = getattr(chain, "settle_depth", None)
            if settle_depth is not None:
                row = IntentRow.get_by_id(intent_id)
                cursor = ChainCursor.get_or_none(ChainCursor.chain == view.destination_chain)
                head = cursor.head if cursor is not None else 0
                depth = ChainDepth(view.destination_chain,
                                   max(0, head - row.fill_block) if head else 0, settle_depth)
        return view, durations, depth, closed

    @unary("IntentService/ExplainIntent")
    async def ExplainIntent(self, request, context):
        oid = _intent_id(request.id, "id")
        if self._book_elsewhere(context):
            try:
                return await self._forward("ExplainIntent", request,
                                           intents_pb2.IntentExplanation, context)
            except OrbitalError:   # the holder cannot be reached: the stored half, here
                pass
        # The book first, then the store: the book commits an entry before it holds what
        # the entry says (a failed admission check), so the store read after it has the
        # entry the live state refers to.
        live = None
        try:   # only the leading book knows its rounds
            live = await self.node.registry.ask_async(BOOK_PATH, ExplainLive(oid), _ASK_TIMEOUT)
        except LeaseLost:
            try:   # the holder's answer has them (a call forwarded here is not sent on)
                return await self._forward("ExplainIntent", request,
                                           intents_pb2.IntentExplanation, context)
            except OrbitalError:
                pass
        except (ActorUnavailable, Unavailable):
            pass
        view, durations, depth, closed = await self.node.grpc.call(self._explain_reads, oid)
        return explanation(view, live if view.status not in TERMINAL else None, durations,
                           depth, time.time(), closed)

    # ---- WatchIntents ---------------------------------------------------------------
    def _watch_request(self, req) -> tuple[list[str], str]:
        cfg = self._cfg()
        if bool(req.ids) == bool(req.user):
            raise InvalidArgument("give either ids or user", field="ids" if req.ids else "user")
        if len(req.ids) > cfg.max_watch_ids:
            raise InvalidArgument(f"at most {cfg.max_watch_ids} ids per watch", field="ids")
        ids = sorted({_intent_id(i, "ids") for i in req.ids})
        return ids, _address(req.user, "user") if req.user else ""

    def _initial(self, ids: list[str], user: str, after: int) -> list[IntentUpdateView]:
        with self.node.store.connection():
            if ids:
                rows = list(IntentRow.select().where(IntentRow.id.in_(ids)))
                missing = set(ids) - {r.id for r in rows}
                if missing:
                    raise NotFound(f"no intent {sorted(missing)[0]}", field="ids")
            else:
                rows = list(IntentRow.select().where(
                    (IntentRow.user == user) &
                    IntentRow.status.in_([s.value for s in Status if s not in TERMINAL]))
                    .order_by(IntentRow.created_at))
            views = _store.load_views(rows)
        out: list[IntentUpdateView] = []
        for v in views:
            if after and v.version > after:
                for t in v.history:
                    if t.version > after:
                        out.append(IntentUpdateView(_as_of(v, t), t))
            elif not after or v.version == after:
                out.append(IntentUpdateView(v, v.history[-1] if v.history else None, snapshot=True))
        return out

    @stream("IntentService/WatchIntents")
    async def WatchIntents(self, request, context):
        ids, user = self._watch_request(request)
        outbox = Outbox(context, self._cfg().stream_buffer, what="WatchIntents")
        key = uuid.uuid4().hex

        def sink(update: IntentUpdateView | None) -> None:
            if update is None:
                outbox.close(Unavailable("the intent book is restarting; watch again with "
                                         "after_version = the last version you saw"))
            else:
                outbox.push(update)

        await self.node.registry.ask_async(BOOK_PATH, Subscribe(key, frozenset(ids), user, sink))
        try:
            sent: dict[str, int] = {}
            done: set[str] = set()
            for u in await self.node.grpc.call(self._initial, ids, user, request.after_version):
                sent[u.intent.id] = max(sent.get(u.intent.id, 0), u.intent.version)
                if u.intent.terminal:
                    done.add(u.intent.id)
                yield update_pb(u)
            if ids and done >= set(ids):
                return
            async for u in outbox.drain():
                if u.intent.version <= sent.get(u.intent.id, request.after_version):
                    continue
                sent[u.intent.id] = u.intent.version
                yield update_pb(u)
                if u.intent.terminal:
                    done.add(u.intent.id)
                    if ids and done >= set(ids):
                        return
        finally:
            try:
                self.node.registry.tell(BOOK_PATH, Unsubscribe(key))
            except ActorUnavailable:
                pass



def _as_of(view, t):
    return replace(view, status=t.status, version=t.version, updated_at=t.at, history=())


def _position(value) -> bool:
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (int, float))
            and isinstance(value[1], str)):
        return False
    try:
        return fields.order_id(value[1], "page_token") == value[1]
    except InvalidArgument:
        return False


def intent_service(node):
    name = intents_pb2.DESCRIPTOR.services_by_name["IntentService"].full_name
    return (name, intents_pb2_grpc.add_IntentServiceServicer_to_server, IntentServicer(node))
