"""WatchIntents that survives disconnects: resume by ``after_version``, each update once.

Why in the client: a watch is long-lived, and nodes restart (deploys, crashes, a book
restart closes watch streams with UNAVAILABLE on purpose). The node lets a watcher resume
by ``after_version``; this module does it for the caller:

- ids: reconnect for the ids not yet terminal with ``after_version`` = the lowest version
  seen among them; the node replays what is above it, and updates at or below a version
  already yielded for that intent are dropped, so the caller sees each transition once,
  in order.
- user: the node sends that user's non-terminal intents first, then what changes. An
  intent that went terminal while disconnected is not among them, so after reconnecting
  each intent seen and not yet terminal is fetched once (GetIntent) and its newer state
  yielded as a snapshot. (A transition committed in the instant between that fetch and the
  node registering the new stream can still be missed for a user watch; an ids watch has
  no such gap.)

A stream that ends while some watched id is not terminal, or a user watch that ends at all,
was cut by the node (the API ends an ids watch only when all are terminal): also a resume.
Retries without progress are bounded by the policy's attempts; any progress resets them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc

from orbital.v1 import intents_pb2

from ._errors import OrbitalRpcError, from_rpc_error
from ._retry import RetryPolicy
from ._types import Intent, IntentUpdate

__all__ = ["watch_intents"]

METHOD = "IntentService/WatchIntents"


def watch_intents(open_stream: Callable[..., grpc.Call], get: Callable[[str], Intent],
                  ids: list[str], user: str, after_version: int, policy: RetryPolicy,
                  resume: bool, timeout: float | None) -> Iterator[IntentUpdate]:
    seen: dict[str, int] = {}
    done: set[str] = set()
    failures = 0
    deadline = None if timeout is None else policy.clock() + timeout
    reconnecting = False
    while True:
        pending = [i for i in ids if i not in done]
        if ids and not pending:
            return
        after = min(seen.get(i, after_version) for i in pending) if ids else after_version
        req = intents_pb2.WatchIntentsRequest(ids=pending, user="" if ids else user,
                                              after_version=after)
        remaining = None if deadline is None else max(0.0, deadline - policy.clock())
        call = open_stream(req, timeout=remaining)
        progressed = False
        try:
            if reconnecting and not ids:
                for iid in [i for i in seen if i not in done]:
                    intent = get(iid)
                    if intent.version > seen[iid]:
                        seen[iid] = intent.version
                        progressed = True
                        if intent.terminal:
                            done.add(iid)
                        last = intent.history[-1] if intent.history else None
                        yield IntentUpdate(intent, last, snapshot=True)
            for msg in call:
                update = IntentUpdate.from_pb(msg)
                iid = update.intent.id
                if update.intent.version <= seen.get(iid, -1):
                    continue
                seen[iid] = update.intent.version
                progressed = True
                if update.intent.terminal:
                    done.add(iid)
                yield update
            if ids and all(i in done for i in ids):
                return
            error = OrbitalRpcError(grpc.StatusCode.UNAVAILABLE,
                                    "the node ended the watch early", method=METHOD)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc, METHOD)
            lagged = error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and progressed
            if not resume or not (error.code == grpc.StatusCode.UNAVAILABLE or lagged):
                raise error from None
        finally:
            call.cancel()
        if not resume:
            raise error
        failures = 0 if progressed else failures + 1
        if failures >= policy.attempts:
            raise error
        wait = policy.delay(max(0, failures - 1))
        if deadline is not None and policy.clock() + wait >= deadline:
            raise OrbitalRpcError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                  f"watch deadline passed while reconnecting ({error})",
                                  method=METHOD)
        policy.sleep(wait)
        reconnecting = True
