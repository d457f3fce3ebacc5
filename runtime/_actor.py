"""The base actor: a pykka thread with a path, a parent, and crash reporting.

Subclasses implement :meth:`Actor.setup` (rebuild state from the store: this runs on every
start, including each restart), :meth:`Actor.handle` (one message at a time) and, if they
hold resources, register them on :attr:`Actor.resources` as they build them (so a
half-built actor releases exactly what it got). They never see each other's objects: they send
messages by path through ``self.ctx.registry``.

Failure semantics follow gen_server: a typed :class:`OrbitalError` raised by ``handle`` is
an answer to the caller (logged, if the message was told), and the actor lives on; any other
exception is a bug, the caller gets it *and* the actor crashes, so its supervisor restarts
it from a clean state.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from collections.abc import Callable

import pykka
from pykka import messages as _pykka_messages

from ._clock import Clock
from ._errors import OrbitalError
from ._events import EventBus
from ._lease import SingletonLease, standby_interval
from ._loop_ask import answer_all
from ._registry import Registry

if TYPE_CHECKING:
    from ._services import Services

__all__ = ["Actor", "ActorContext", "ChildExit", "Init", "Tick"]

log = logging.getLogger("orbital.actor")

# pykka's own messages (stop, proxy calls), handled by pykka's dispatcher; everything else
# goes straight to on_receive without pykka testing each message against these first.
_PYKKA_MESSAGES = frozenset({_pykka_messages._ActorStop, _pykka_messages.ProxyCall,  # noqa: SLF001
                             _pykka_messages.ProxyGetAttr, _pykka_messages.ProxySetAttr})


class _Closable(Protocol):
    def close(self) -> Any: ...


_C = TypeVar("_C", bound=_Closable)


@dataclass(frozen=True)
class ChildExit:
    """Sent by a child to its supervisor when it stops; ``reason`` None means normal."""

    child_id: str
    generation: int
    reason: BaseException | None


@dataclass(frozen=True)
class Init:
    """First message of every actor, asked by its supervisor: runs :meth:`Actor.setup`.

    Doing setup as a reply (rather than in pykka's ``on_start``) hands the supervisor the
    real exception of a failed start, synchronously, as OTP's ``start_link`` does.
    """


@dataclass(frozen=True)
class _LeaseTick:
    """Renew (or, standing by, try to take) the actor's lease ``name`` (Actor.lease)."""

    name: str


@dataclass(frozen=True)
class Tick:
    """The message of an actor's periodic timer (:meth:`Actor.schedule_tick`)."""

    seq: int


@dataclass(frozen=True)
class ActorContext:
    """What an actor gets from the node: immutable, shared by reference, safe across threads."""

    path: str
    registry: Registry
    clock: Clock
    events: EventBus
    # Node-wide resources (store, metrics, config). A bare tree (runtime tests, the
    # supervision bench) has none and starts no actor that reads them.
    services: Services = None  # type: ignore[assignment]
    parent: pykka.ActorRef | None = None
    child_id: str = ""
    generation: int = 0
    on_exit: Callable[[BaseException | None], None] | None = None  # root only
    observe: Callable[[str, str, float], None] | None = None      # (path, kind, seconds)

    def child(self, child_id: str, parent: pykka.ActorRef, generation: int) -> ActorContext:
        path = child_id if self.path in ("", "root") else f"{self.path}/{child_id}"
        return replace(self, path=path, parent=parent, child_id=child_id,
                       generation=generation, on_exit=None)


class Actor(pykka.ThreadingActor):
    """Base of every Orbital actor (``kind`` names it in the tree and in metrics)."""

    kind = "actor"
    use_daemon_thread = True  # an abandoned child (ignored stop) must not pin the process
    # Message types handled together: consecutive queued messages of these types reach
    # handle_batch as one list (group commit: one transaction for many asks).
    batched: frozenset[type] = frozenset()
    max_batch = 256
    # pykka.ThreadingActor's inbox is a queue.Queue (the batch loop takes get_nowait)
    actor_inbox: queue.Queue[Any]

    def __init__(self, ctx: ActorContext, config: Any = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.config = config
        self.path = ctx.path
        self._exited = False
        # What the actor holds (connections, RPC clients, threads, timers, leases), released
        # in reverse order when it stops or crashes, after teardown(): setup registers each
        # resource as it gets it, so a setup that fails halfway releases what it got and no
        # teardown has to guess which attributes exist.
        self.resources = contextlib.ExitStack()
        self._tick_seq = 0
        self._tick_timer: Any = None
        self._leases: dict[str, SingletonLease] = {}
        self._lease_timers: dict[str, Any] = {}

    # ---- hooks for subclasses -------------------------------------------------------
    def setup(self) -> None:
        """Build state (from the store, after a restart). Raise to fail the start."""

    def handle(self, message: Any) -> Any:
        raise TypeError(f"{self.path}: unexpected message {type(message).__name__}")

    def handle_batch(self, messages: list[Any]) -> list[Any]:
        """Handle consecutive messages of the ``batched`` types; one result per message.

        A result that is an :class:`OrbitalError` instance is that caller's typed error
        (the others still get their results); raising one answers every message of the
        batch with it; raising anything else crashes the actor as ``handle`` does.
        """
        return [self.handle(m) for m in messages]

    def teardown(self) -> None:
        """Last work before :attr:`resources` are released (a final flush); runs on a normal
        stop and after a crash, also of setup, so it may only use what ``__init__`` made.
        Resources go on :attr:`resources` instead (:meth:`own`)."""

    def own(self, resource: _C) -> _C:
        """Close ``resource`` when the actor stops or crashes (after :meth:`teardown`, in
        reverse order of owning); returns it, so ``self.rpc = self.own(RpcClient(...))``."""
        self.resources.callback(resource.close)
        return resource

    def tell_later(self, delay: float, message: Any):
        """Deliver ``message`` to this actor after ``delay`` (on ``ctx.clock``); returns
        the cancellable timer. Timers never touch state: they only send a message, and a
        timer that fires after the actor stopped is dropped silently."""
        ref = self.actor_ref

        def fire() -> None:
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                pass
        return self.ctx.clock.call_later(delay, fire)

    def schedule_tick(self, delay: float) -> None:
        """(Re)arm the actor's one periodic timer: a :class:`Tick` arrives after ``delay``.

        Re-arming cancels the pending tick, and a tick from an older arming that was
        already queued is recognised by :meth:`current_tick`, so a poll loop never runs
        twice per period however often it is re-armed (an ask that polls "now", a
        restart). The timer is cancelled when the actor stops or crashes.
        """
        self._tick_seq += 1
        if self._tick_timer is not None:
            self._tick_timer.cancel()
        self._tick_timer = self.tell_later(delay, Tick(self._tick_seq))

    def current_tick(self, message: Any) -> bool:
        """True for the :class:`Tick` of the latest :meth:`schedule_tick` (else stale)."""
        return type(message) is Tick and message.seq == self._tick_seq

    def run_tick(self, message: Any, interval: float, work: Callable[[], Any]) -> bool:
        """The body of a poll loop: for the current :class:`Tick`, run ``work`` and re-arm
        the timer for ``interval`` after it, also when ``work`` raised. A typed error from
        a told Tick is an answer (the actor lives on), so a loop that re-armed only after a
        clean round would stop for good at the first store outage. ``work`` may return
        a float, the delay to the next tick instead of ``interval`` (a loop that paces
        itself: at once while behind, later when idle). True for any Tick (a stale one
        is dropped), False for other messages."""
        if type(message) is not Tick:
            return False
        if message.seq == self._tick_seq:
            delay = interval
            try:
                result = work()
                if isinstance(result, float):
                    delay = result
            finally:
                self.schedule_tick(delay)
        return True

    # ---- singletons: one node at a time (runtime._lease) -----------------------------
    def hold_lease(self, name: str) -> SingletonLease:
        """Hold lease ``name``: this actor is a singleton across the nodes sharing the
        database, and does its work only while :attr:`SingletonLease.held`.

        Tried once now (so ``setup`` knows whether it leads), then renewed every third of
        ``node.lease_ttl`` while held and retried every :func:`standby_interval` while
        not, on a timer of its own; :meth:`lease_changed` is called on each change.
        Released when the actor stops or crashes, so a standby takes over at once. Writes
        go through :meth:`SingletonLease.fenced`."""
        held = SingletonLease(self.ctx.services.store, name, self.ctx.services.lease_ttl)
        self._leases[name] = held
        self.resources.callback(held.release)
        self.resources.callback(self._stop_lease_timer, name)
        held.renew()
        self._arm_lease(held)
        return held

    def lease_changed(self, lease: SingletonLease) -> None:
        """Called when ``lease`` was gained or lost (:attr:`SingletonLease.held` says
        which; a new epoch without a gap in between counts too): reload state from the
        store on gain, drop work in progress on loss."""

    def _arm_lease(self, held: SingletonLease) -> None:
        delay = held.ttl / 3 if held.held else standby_interval(held.ttl)
        self._lease_timers[held.name] = self.tell_later(delay, _LeaseTick(held.name))

    def _stop_lease_timer(self, name: str) -> None:
        timer = self._lease_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        self._leases.pop(name, None)   # a tick already queued finds nothing to renew

    def _lease_tick(self, tick: _LeaseTick) -> None:
        held = self._leases.get(tick.name)
        if held is None:
            return
        try:
            if held.renew():
                self.lease_changed(held)
        finally:
            self._arm_lease(held)

    def _cancel_tick(self) -> None:
        if self._tick_timer is not None:
            self._tick_timer.cancel()

    # ---- pykka plumbing --------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if type(message) is Init:
            try:
                self.setup()
            except BaseException as exc:
                self._crash(exc)
                raise
            return self.path
        if type(message) is _LeaseTick:
            self._lease_tick(message)
            return None
        observe = self.ctx.observe
        if observe is None:  # the per-message path: keep it short
            try:
                return self.handle(message)
            except OrbitalError:
                raise
            except Exception as exc:
                self._crash(exc)
                raise
        started = time.perf_counter()
        try:
            return self.handle(message)
        except OrbitalError:
            raise
        except Exception as exc:
            self._crash(exc)
            raise
        finally:
            observe(self.path, self.kind, time.perf_counter() - started)

    def _actor_loop_running(self) -> None:
        """pykka's message loop (a pykka 4 seam), specialised for Orbital actors.

        Differences from pykka's loop: a typed :class:`OrbitalError` from a *told* message
        is logged and the actor lives (pykka would stop it: there is no caller to answer,
        yet it is an expected failure, not a bug); a crash is reported once, by
        :meth:`_crash`, not logged again by pykka; and only pykka's own messages go
        through pykka's dispatcher, which otherwise costs four isinstance tests a message.
        """
        get, stopped, receive = self.actor_inbox.get, self.actor_stopped, self.on_receive
        pykka_receive = self._handle_receive
        batched, carry = self.batched, None
        while not stopped.is_set():
            if carry is None:
                envelope = get()
            else:
                envelope, carry = carry, None
            message, reply_to = envelope.message, envelope.reply_to
            if batched and type(message) in batched:
                carry = self._run_batch(envelope)
                continue
            try:
                if type(message) in _PYKKA_MESSAGES:
                    response = pykka_receive(message)
                else:
                    response = receive(message)
            except OrbitalError as exc:
                if reply_to is not None:
                    reply_to.set_exception()
                else:
                    log.warning("typed error from a told message: %s", exc,
                                extra={"path": self.path, "error": repr(exc)})
            except Exception as exc:  # a bug: on_receive has crashed the actor already
                if reply_to is not None:
                    reply_to.set_exception()
                else:
                    try:
                        self.on_failure(*sys.exc_info())
                    except Exception:  # noqa: BLE001
                        self._handle_failure(*sys.exc_info())
                if not stopped.is_set():  # raised outside on_receive (pykka messages)
                    self._crash(exc)
            except BaseException:  # noqa: BLE001 - pykka: stop every actor
                if reply_to is not None:
                    reply_to.set_exception()
                self._stop()
                pykka.ActorRegistry.stop_all()
            else:
                if reply_to is not None:
                    reply_to.set(response)

    def _run_batch(self, first: Any) -> Any:
        """Take ``first`` and the queued envelopes of batched types behind it; run them as
        one :meth:`handle_batch`. Returns the envelope that ended the batch, if any."""
        envelopes, carry = [first], None
        get_nowait = self.actor_inbox.get_nowait
        while len(envelopes) < self.max_batch:
            try:
                nxt = get_nowait()
            except queue.Empty:
                break
            if type(nxt.message) in self.batched:
                envelopes.append(nxt)
            else:
                carry = nxt
                break
        started = time.perf_counter()
        try:
            results = self.handle_batch([e.message for e in envelopes])
            if len(results) != len(envelopes):
                raise RuntimeError(f"handle_batch returned {len(results)} results "
                                   f"for {len(envelopes)} messages")
        except OrbitalError as exc:
            # Typed (the store is down): the answer to every message of the batch, as from
            # handle; the actor lives on. What was carried out of the inbox goes back to
            # the loop to be handled normally.
            for e in envelopes:
                if e.reply_to is not None:
                    e.reply_to.set_exception((type(exc), exc, exc.__traceback__))
                else:
                    log.warning("typed error from a told message: %s", exc,
                                extra={"path": self.path, "error": repr(exc)})
            return carry
        except Exception as exc:  # a bug: crash, every caller gets the exception
            self._crash(exc)
            for e in [*envelopes, *([carry] if carry is not None else [])]:
                if e.reply_to is not None:
                    e.reply_to.set_exception((type(exc), exc, exc.__traceback__))
            return None  # the actor is stopped; pykka fails what is left in the inbox
        finally:
            if self.ctx.observe is not None:
                self.ctx.observe(self.path, self.kind, time.perf_counter() - started)
        answers = []
        for e, result in zip(envelopes, results):
            error = result if isinstance(result, OrbitalError) else None
            if e.reply_to is not None:
                answers.append((e.reply_to, None if error else result, error))
            elif error is not None:
                log.warning("typed error from a told message: %s", error,
                            extra={"path": self.path, "error": repr(error)})
        answer_all(answers)   # one loop wake-up for the batch's asks from the gRPC loop
        return carry

    def on_failure(self, exc_type, exc_value, tb) -> None:
        # A told message raised a bug (and on_receive crashed the actor already).
        self._crash(exc_value)

    def on_stop(self) -> None:
        self._cancel_tick()
        try:
            try:
                self.teardown()
            finally:
                self.resources.close()
        finally:
            self._report(None)

    def _crash(self, exc: BaseException) -> None:
        if self._exited:
            return
        self._cancel_tick()
        try:
            self.teardown()
        except Exception:
            log.exception("teardown after crash failed", extra={"path": self.path})
        try:
            self.resources.close()
        except Exception:
            log.exception("releasing resources after crash failed", extra={"path": self.path})
        self.actor_stopped.set()  # no further messages: the mailbox is failed by pykka
        pykka.ActorRegistry.unregister(self.actor_ref)
        self._report(exc)

    def _report(self, reason: BaseException | None) -> None:
        if self._exited:
            return
        self._exited = True
        self.ctx.registry.unregister(self.path, self.actor_ref)
        parent = self.ctx.parent
        if parent is not None:
            try:
                parent.tell(ChildExit(self.ctx.child_id, self.ctx.generation, reason))
            except pykka.ActorDeadError:
                pass  # the supervisor is gone too: it is stopping us
        elif self.ctx.on_exit is not None:
            self.ctx.on_exit(reason)
