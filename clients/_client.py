"""OrbitalClient: the node's user API (quote, submit, get, list, cancel, watch) in plain Python.

Why a wrapper over the generated stubs: every call gets a deadline and the UNAVAILABLE-only
retry policy (clients/_retry.py); errors come out as OrbitalRpcError with the node's field
violations; signing happens here with the order's own typed data, so a caller never builds
EIP-712 by hand; WatchIntents resumes by ``after_version`` after a dropped connection, so a
caller sees each transition once, in order, across node restarts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import grpc

from orbital.v1 import admin_pb2, admin_pb2_grpc, intents_pb2, intents_pb2_grpc, quoter_pb2, quoter_pb2_grpc
from protocol.erc7683 import cancel_typed_data
from protocol.signatures import TypedDataError, parse_order_typed_data

from ._errors import ClientError, OrbitalRpcError, from_status
from ._keys import as_signer
from ._retry import NO_RETRY, RetryPolicy, call_with_retry
from protocol.transport import TlsOptions, open_channel
from ._types import Intent, IntentPage, IntentStatus, IntentUpdate, Quote
from ._watch import watch_intents

__all__ = ["OrbitalClient", "DEFAULT_TARGET"]

DEFAULT_TARGET = "127.0.0.1:50051"

# grpc's own reconnect backoff starts at 1 s and grows to 120 s; calls made while the channel
# waits fail fast with UNAVAILABLE, which would use up our retries before the node is back.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def _policy(retries: RetryPolicy | int | None) -> RetryPolicy:
    if retries is None:
        return RetryPolicy()
    if isinstance(retries, RetryPolicy):
        return retries
    return RetryPolicy(attempts=int(retries) + 1) if retries > 0 else NO_RETRY


class OrbitalClient:
    """A connection to one node. ``timeout``: seconds per call, retries included (None: no
    deadline). ``retries``: a RetryPolicy, or how many times to retry an UNAVAILABLE call.
    ``admin_token``: only for the admin helpers (:meth:`tree`). ``tls``: reach the node over
    TLS (its CA; a client certificate for mutual TLS). Thread-safe; close() it or use it as
    a context manager."""

    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float | None = 10.0,
                 retries: RetryPolicy | int | None = None,
                 watch_retries: RetryPolicy | int | None = None, admin_token: str | None = None,
                 channel: grpc.Channel | None = None, tls: TlsOptions | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.retry = _policy(retries)
        # a watch outlives node restarts: by default it waits longer than a unary call would
        if watch_retries is not None:
            self.watch_retry = _policy(watch_retries)
        elif isinstance(retries, RetryPolicy):
            self.watch_retry = retries
        else:
            self.watch_retry = RetryPolicy(attempts=12, maximum=5.0)
        self._admin_token = admin_token
        self._own_channel = channel is None
        self._channel = channel or open_channel(target, tls, _CHANNEL_OPTIONS)
        self._intents = intents_pb2_grpc.IntentServiceStub(self._channel)
        self._quoter = quoter_pb2_grpc.QuoterServiceStub(self._channel)

    # ---- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        if self._own_channel:
            self._channel.close()

    def __enter__(self) -> OrbitalClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OrbitalClient({self.target!r})"

    def _unary(self, method: str, rpc, request, timeout: float | None = None, **kw):
        budget = self.timeout if timeout is None else timeout
        return call_with_retry(lambda remaining, _n: rpc(request, timeout=remaining, **kw),
                               self.retry, budget, method)

    # ---- quotes ---------------------------------------------------------------------
    def quote(self, origin_chain: str | int, destination_chain: str | int, input_token: str,
              output_token: str, input_amount: int | str, user: str, *, recipient: str = "",
              slippage_bps: int | None = None, signing: str = "",
              timeout: float | None = None) -> Quote:
        """A priced quote with the EIP-712 order to sign (chains by name or id, tokens by
        symbol or address, ``input_amount`` in base units). ``signing``: "orbital" or
        "permit2" (docs/erc7683.md 3b), or "" to let the node choose (Permit2 when the
        user's allowance to Permit2 covers the input); ``Quote.signing`` says which."""
        req = quoter_pb2.GetQuoteRequest(
            origin_chain=str(origin_chain), destination_chain=str(destination_chain),
            input_token=input_token, output_token=output_token, input_amount=str(input_amount),
            user=user, recipient=recipient or "", signing=_signing_form(signing))
        if slippage_bps is not None:
            req.slippage_bps = slippage_bps
        return Quote.from_pb(self._unary("QuoterService/GetQuote", self._quoter.GetQuote, req,
                                         timeout))

    # ---- intents --------------------------------------------------------------------
    def submit(self, typed_data: str | Mapping[str, Any], signature: str, *,
               timeout: float | None = None) -> Intent:
        """Submit a signed order; returns the intent once the node has committed it.

        A retry (after UNAVAILABLE) may hit the copy the first attempt stored: that answers
        ALREADY_EXISTS, and if the stored intent is this very order it is returned instead.
        """
        text = typed_data if isinstance(typed_data, str) else json.dumps(typed_data)
        req = intents_pb2.SubmitIntentRequest(typed_data=text, signature=signature)

        def attempt(remaining, n):
            try:
                return self._intents.SubmitIntent(req, timeout=remaining)
            except grpc.RpcError as exc:
                if n > 0 and exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                    existing = self._stored_copy(text)
                    if existing is not None:
                        return existing
                raise
        budget = self.timeout if timeout is None else timeout
        return Intent.from_pb(call_with_retry(attempt, self.retry, budget,
                                              "IntentService/SubmitIntent"))

    def submit_many(self, orders: Sequence[tuple[str | Mapping[str, Any], str]], *,
                    timeout: float | None = None) -> list[Intent | OrbitalRpcError]:
        """Submit signed orders ``(typed_data, signature)`` in one call (at most the node's
        ``intents.max_batch``); one result per order, in order: the committed Intent, or the
        error SubmitIntent would have raised for it. A retried call (after UNAVAILABLE) may
        find orders its first attempt stored: those come back as their stored intents."""
        texts = [t if isinstance(t, str) else json.dumps(t) for t, _ in orders]
        req = intents_pb2.SubmitIntentsRequest(orders=[
            intents_pb2.SubmitIntentRequest(typed_data=t, signature=s)
            for t, (_, s) in zip(texts, orders)])
        method = "IntentService/SubmitIntents"
        tries: list[int] = []

        def attempt(remaining, n):
            tries.append(n)
            return self._intents.SubmitIntents(req, timeout=remaining)
        budget = self.timeout if timeout is None else timeout
        reply = call_with_retry(attempt, self.retry, budget, method)
        out: list[Intent | OrbitalRpcError] = []
        for text, r in zip(texts, reply.results):
            if r.HasField("intent"):
                out.append(Intent.from_pb(r.intent))
                continue
            err = from_status(r.error, method)
            stored = (self._stored_copy(text) if tries[-1] > 0
                      and err.code == grpc.StatusCode.ALREADY_EXISTS else None)
            out.append(Intent.from_pb(stored) if stored is not None else err)
        return out

    def _stored_copy(self, typed_text: str) -> intents_pb2.Intent | None:
        """The stored intent if it is exactly the order in ``typed_text``, else None."""
        try:
            order = parse_order_typed_data(typed_text)
            stored = self._intents.GetIntent(
                intents_pb2.GetIntentRequest(id="0x" + order.order_id.hex()), timeout=self.timeout)
        except (TypedDataError, grpc.RpcError, ValueError):
            return None
        o = order.order
        same = (stored.id.lower() == "0x" + order.order_id.hex()
                and stored.user.lower() == order.user.lower()
                and stored.nonce == str(order.nonce)
                and stored.input_token.lower() == o.input_token.lower()
                and stored.input_amount == str(o.input_amount)
                and stored.output_token.lower() == o.output_token.lower()
                and stored.min_output_amount == str(o.output_amount)
                and stored.recipient.lower() == o.recipient.lower()
                and stored.destination_chain_id == o.destination_chain_id
                and stored.open_deadline.seconds == order.open_deadline
                and stored.fill_deadline.seconds == order.fill_deadline)
        return stored if same else None

    def sign_and_submit(self, quote_or_typed_data: Quote | str | Mapping[str, Any], key: Any, *,
                        timeout: float | None = None) -> Intent:
        """Sign a quote's order (or any order typed data) with ``key`` and submit it.
        ``key``: a Signer, an eth-account LocalAccount, or a raw private key."""
        typed = (quote_or_typed_data.typed_data if isinstance(quote_or_typed_data, Quote)
                 else quote_or_typed_data)
        text = typed if isinstance(typed, str) else json.dumps(typed)
        signer = as_signer(key)
        message = json.loads(text).get("message") or {}
        # the order is the message (Orbital form) or the message's witness (Permit2 form)
        user = message.get("user") or (message.get("witness") or {}).get("user", "")
        if user and str(user).lower() != signer.address.lower():
            raise ClientError(f"the key is for {signer.address}, but the order's user is {user}")
        return self.submit(text, signer.sign_typed_data(text), timeout=timeout)

    def get(self, intent_id: str, *, timeout: float | None = None) -> Intent:
        return Intent.from_pb(self._unary("IntentService/GetIntent", self._intents.GetIntent,
                                          intents_pb2.GetIntentRequest(id=intent_id), timeout))

    def list(self, user: str = "", status: IntentStatus | str | int | None = None,
             page_size: int = 0, page_token: str = "", *,
             timeout: float | None = None) -> IntentPage:
        """One page, newest first (``page_size`` 0: the node's default)."""
        # protoc's .pyi types an enum argument as the generated enum class or its name;
        # protobuf takes the int value (IntentStatus's values are the proto enum's)
        req = intents_pb2.ListIntentsRequest(
            user=user, status=IntentStatus.parse(status) if status else 0,  # type: ignore[arg-type]
            page_size=page_size, page_token=page_token)
        reply = self._unary("IntentService/ListIntents", self._intents.ListIntents, req, timeout)
        return IntentPage(tuple(Intent.from_pb(i) for i in reply.intents), reply.next_page_token)

    def iter_intents(self, user: str = "", status: IntentStatus | str | int | None = None,
                     page_size: int = 0, *, limit: int | None = None) -> Iterator[Intent]:
        """Every intent matching the filters, page after page (stable paging)."""
        token, count = "", 0
        while True:
            page = self.list(user, status, page_size, token)
            for intent in page.intents:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield intent
            token = page.next_page_token
            if not token:
                return

    def cancel(self, intent_id: str, key: Any, *, timeout: float | None = None) -> Intent:
        """Cancel a PENDING/ASSIGNED intent: signs CancelOrder{orderId, nonce} in the origin
        settler's domain (fetched from the intent) with the user's ``key``."""
        signer = as_signer(key)
        intent = self.get(intent_id, timeout=timeout)
        if intent.user.lower() != signer.address.lower():
            raise ClientError(f"the key is for {signer.address}, but intent {intent.id} "
                              f"belongs to {intent.user}")
        oid = bytes.fromhex(intent.id.removeprefix("0x"))
        typed = cancel_typed_data(intent.origin_chain_id, intent.origin_settler, oid, intent.nonce)
        req = intents_pb2.CancelIntentRequest(id=intent.id, signature=signer.sign_typed_data(typed))

        def attempt(remaining, n):
            try:
                return self._intents.CancelIntent(req, timeout=remaining)
            except grpc.RpcError as exc:
                # a retry after a lost reply finds the intent already cancelled
                if n > 0 and exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    current = self._intents.GetIntent(
                        intents_pb2.GetIntentRequest(id=intent.id), timeout=remaining)
                    if current.status == IntentStatus.CANCELLED:
                        return current
                raise
        budget = self.timeout if timeout is None else timeout
        return Intent.from_pb(call_with_retry(attempt, self.retry, budget,
                                              "IntentService/CancelIntent"))

    def watch(self, ids: Iterable[str] = (), user: str = "", after_version: int = 0, *,
              resume: bool = True, timeout: float | None = None) -> Iterator[IntentUpdate]:
        """Updates of ``ids`` (or of every intent of ``user``) as they are committed.

        Ends when every watched id is terminal (never for a user watch). When the connection
        drops (UNAVAILABLE, the node restarting, or the node cutting off a reader that fell
        behind), it reconnects with backoff (``watch_retries``) and resumes by
        ``after_version``; an update already yielded is never yielded again (clients/_watch.py).
        Closing the iterator cancels the stream. ``timeout``: seconds for the whole watch
        (then OrbitalRpcError DEADLINE_EXCEEDED); None, the default: no limit.
        """
        ids = list(dict.fromkeys(ids))
        if not ids and not user:
            raise ValueError("watch needs ids or a user")
        return watch_intents(self._intents.WatchIntents, self._get_for_watch, ids, user,
                             after_version, self.watch_retry, resume, timeout)

    def _get_for_watch(self, intent_id: str) -> Intent:
        return self.get(intent_id)

    def wait(self, intent_id: str, until: Iterable[IntentStatus] = ()) -> Intent:
        """Follow one intent until it reaches one of ``until`` (default: any terminal status)."""
        targets = set(until)
        last = None
        for update in self.watch([intent_id]):
            last = update.intent
            if (targets and last.status in targets) or last.terminal:
                return last
        if last is None:
            return self.get(intent_id)
        return last

    def explain(self, intent_id: str, *,
                timeout: float | None = None) -> intents_pb2.IntentExplanation:
        """Why ``intent_id`` has not filled yet (its auction, exclusivity, chain waits, a
        failed admission check, an ETA), or why it ended (IntentService/ExplainIntent)."""
        return self._unary("IntentService/ExplainIntent", self._intents.ExplainIntent,
                           intents_pb2.ExplainIntentRequest(id=intent_id), timeout)

    # ---- admin ----------------------------------------------------------------------
    def tree(self, *, timeout: float | None = None) -> admin_pb2.GetTreeResponse:
        """The node's actor tree (AdminService/GetTree; needs ``admin_token``)."""
        if not self._admin_token:
            raise ClientError("tree() needs the client's admin_token")
        stub = admin_pb2_grpc.AdminServiceStub(self._channel)
        return self._unary("AdminService/GetTree", stub.GetTree, admin_pb2.GetTreeRequest(),
                           timeout, metadata=[("authorization", f"Bearer {self._admin_token}")])



_SIGNING_FORMS: dict[str, quoter_pb2.SigningForm] = {
    "": quoter_pb2.SIGNING_FORM_UNSPECIFIED, "orbital": quoter_pb2.SIGNING_FORM_ORBITAL,
    "permit2": quoter_pb2.SIGNING_FORM_PERMIT2}


def _signing_form(name: str) -> quoter_pb2.SigningForm:
    try:
        return _SIGNING_FORMS[name]
    except KeyError:
        raise ValueError(f"signing must be 'orbital', 'permit2' or '' (the node chooses), "
                         f"got {name!r}") from None
