"""OTP-style supervisor on pykka.

A supervisor is an :class:`Actor` whose state is its children. Exits of children arrive as
:class:`ChildExit` messages, so every decision (restart, escalate, reload) is taken on the
supervisor's own thread, one at a time. Exceeding the restart intensity stops every child
(in reverse start order) and crashes the supervisor with :class:`Escalation`, which its own
supervisor sees as an ordinary child failure; at the root the node's exit hook runs.

Requests (StartChild, RestartChild, ApplySpec, ...) are asks: a failure they cause in a
*child* is the child's, reported as a typed error or handled as a child failure, never an
exception that would crash the supervisor and, with it, every sibling.
"""

from __future__ import annotations

import collections
import logging
import random
from dataclasses import dataclass
from typing import Any

import pykka

from ._actor import Actor, ChildExit, Init
from ._errors import (ActorUnavailable, AlreadyExists, Escalation, FailedPrecondition,
                      NotFound, OrbitalError)
from ._events import Event
from ._spec import ActorInfo, ChildSpec, DiffResult, Restart, Strategy, SupervisorSpec

__all__ = ["Supervisor", "StartChild", "StopChild", "RestartChild", "ApplySpec",
           "DescribeTree"]

log = logging.getLogger("orbital.supervisor")


@dataclass(frozen=True)
class StartChild:
    spec: ChildSpec


@dataclass(frozen=True)
class StopChild:
    path: str


@dataclass(frozen=True)
class RestartChild:
    path: str


@dataclass(frozen=True)
class ApplySpec:
    spec: SupervisorSpec


@dataclass(frozen=True)
class DescribeTree:
    """Ask: a list of :class:`ActorInfo`, this supervisor's subtree in start order."""


@dataclass(frozen=True)
class _CheckSpec:
    """Reload, phase one: refuse ``spec`` before any change anywhere in the tree."""

    spec: SupervisorSpec


@dataclass(frozen=True)
class _RestartDue:
    ids: tuple[str, ...]
    token: int


class _Child:
    __slots__ = ("spec", "path", "ref", "generation", "state", "started_at", "started_mono",
                 "restarts", "consecutive", "last_error", "dynamic", "token")

    def __init__(self, spec: ChildSpec, path: str, dynamic: bool = False) -> None:
        self.spec, self.path, self.dynamic = spec, path, dynamic
        self.ref: pykka.ActorRef | None = None
        self.generation = self.restarts = self.consecutive = self.token = 0
        self.state, self.last_error = "stopped", ""
        self.started_at = self.started_mono = 0.0  # wall (shown), monotonic (backoff reset)


class Supervisor(Actor):
    kind = "supervisor"

    def __init__(self, ctx, config: SupervisorSpec) -> None:
        super().__init__(ctx, config)
        self.spec = config
        self.children: list[_Child] = []
        self.restart_times: collections.deque[float] = collections.deque()
        self.rng = random.Random()
        self.token = 0

    # ---- lifecycle ------------------------------------------------------------------
    def setup(self) -> None:
        self.children = [_Child(c, self._path_of(c.id)) for c in self.spec.children]
        for child in self.children:
            exc = self._start_child(child)
            if exc is not None:
                self._stop_all(reversed(self.children))
                raise RuntimeError(f"{child.path} failed to start: {exc!r}") from exc

    def teardown(self) -> None:
        self._stop_all(reversed(self.children))

    # ---- messages -------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        if isinstance(message, ChildExit):
            return self._on_exit(message)
        if isinstance(message, _RestartDue):
            return self._on_restart_due(message)
        if isinstance(message, DescribeTree):
            return self._describe()
        if isinstance(message, StartChild):
            return self._start_dynamic(message.spec)
        if isinstance(message, StopChild):
            return self._route(message.path, message, self._stop_by_request)
        if isinstance(message, RestartChild):
            return self._route(message.path, message, self._restart_by_request)
        if isinstance(message, ApplySpec):
            self._check(message.spec)
            return self._apply(message.spec)
        if isinstance(message, _CheckSpec):
            return self._check(message.spec)
        return super().handle(message)

    # ---- starting and stopping ------------------------------------------------------
    def _start_child(self, child: _Child) -> BaseException | None:
        """Start one child and wait for its setup; returns the failure, if any."""
        child.generation += 1
        ctx = self.ctx.child(child.spec.id, self.actor_ref, child.generation)
        ref: pykka.ActorRef | None = None
        try:
            ref = child.spec.actor.start(ctx, child.spec.config)
            ref.ask(Init(), timeout=self.spec.start_timeout)
        except BaseException as exc:  # noqa: BLE001 - any start failure is the child's
            if ref is not None:
                ref.actor_stopped.set()
            child.ref, child.state = None, "failed"
            child.last_error = repr(exc)
            child.started_mono = 0.0  # it never ran: no stable period to reset backoff on
            self._publish("exited", child, reason=repr(exc), during="start")
            return exc
        child.ref, child.state = ref, "running"
        child.started_at, child.started_mono = self.ctx.clock.wall(), self.ctx.clock.now()
        self.ctx.registry.register(child.path, ref)
        self._publish("started", child, generation=child.generation)
        return None

    def _stop_child(self, child: _Child, state: str = "stopped") -> None:
        """Stop one child within its shutdown timeout; abandon it after that."""
        ref, child.ref = child.ref, None
        child.state = state
        child.token += 1  # cancels a pending restart
        if ref is None:
            return
        self.ctx.registry.unregister(child.path, ref)
        try:
            ref.stop(block=True, timeout=child.spec.shutdown)
        except pykka.Timeout:
            ref.actor_stopped.set()  # it stops at its next message boundary, if ever
            log.error("child ignored stop; abandoned",
                      extra={"path": child.path, "shutdown_timeout": child.spec.shutdown})
            self._publish("abandoned", child, timeout=child.spec.shutdown)
            return
        self._publish("stopped", child)

    def _stop_all(self, children) -> None:
        for child in children:
            if child.ref is not None or child.state == "restarting":
                self._stop_child(child)

    # ---- failures -------------------------------------------------------------------
    def _on_exit(self, msg: ChildExit) -> None:
        child = self._find_id(msg.child_id)
        if child is None or child.generation != msg.generation or child.state != "running":
            return  # stale: an exit we caused, or of an instance already replaced
        child.ref = None
        self.ctx.registry.unregister(child.path)
        self._failed(child, msg.reason)

    def _start_or_fail(self, child: _Child) -> bool:
        """Start ``child``; a failed start is a failure of the child like any other."""
        exc = self._start_child(child)
        if exc is None:
            return True
        self._failed(child, exc, announced=True)
        return False

    def _failed(self, child: _Child, reason: BaseException | None,
                announced: bool = False) -> None:
        """Apply the restart type, the intensity and the strategy to an exit of ``child``.

        ``announced``: the exit event was already published (by a failed start), so that
        every failure is counted once by the subscribers (metrics).
        """
        abnormal = reason is not None
        child.state = "failed" if abnormal else "stopped"
        if reason is not None:
            child.last_error = repr(reason)
            log.error("actor failed", exc_info=(type(reason), reason, reason.__traceback__),
                      extra={"path": child.path, "restarts": child.restarts,
                             "error": repr(reason)})
        if not announced:
            self._publish("exited", child, reason=repr(reason) if abnormal else "normal")
        restart = child.spec.restart
        if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and not abnormal):
            if restart is Restart.TEMPORARY:
                self.children.remove(child)
            return
        now = self.ctx.clock.now()
        self.restart_times.append(now)
        while self.restart_times and self.restart_times[0] < now - self.spec.period:
            self.restart_times.popleft()
        if len(self.restart_times) > self.spec.intensity:
            self._escalate(reason)
        idx = self.children.index(child)
        if self.spec.strategy is Strategy.ONE_FOR_ONE:
            group = [child]
        else:
            siblings = self.children if self.spec.strategy is Strategy.ONE_FOR_ALL \
                else self.children[idx:]
            # A sibling stopped on request (or a transient one done) stays stopped, as
            # OTP keeps a terminated child down until restart_child.
            group = [c for c in siblings if c is child or c.state != "stopped"]
        for other in reversed(group):  # last-started first
            if other is child:
                continue
            if other.spec.restart is Restart.TEMPORARY:  # OTP: taken down, never restarted
                self._stop_child(other)
                self.children.remove(other)
            elif other.ref is not None:
                self._stop_child(other, state="restarting")
        group = [c for c in group if c is child or c.spec.restart is not Restart.TEMPORARY]
        if child.started_mono and now - child.started_mono >= self.spec.backoff.reset_after:
            child.consecutive = 0
        child.consecutive += 1
        delay = self.spec.backoff.delay(child.consecutive, self.rng)
        self.token += 1
        for member in group:
            member.state, member.token = "restarting", self.token
        self._publish("restarting", child, delay=delay, attempt=child.consecutive,
                      group=[m.path for m in group])
        if delay <= 0:
            self._restart_group(group)
        else:
            ids, token, me = tuple(m.spec.id for m in group), self.token, self.actor_ref
            self.ctx.clock.call_later(delay, lambda: _tell(me, _RestartDue(ids, token)))

    def _on_restart_due(self, msg: _RestartDue) -> None:
        group = [c for c in (self._find_id(i) for i in msg.ids)
                 if c is not None and c.token == msg.token and c.state == "restarting"]
        self._restart_group(group)

    def _restart_group(self, group: list[_Child]) -> None:
        for member in group:
            if member.state != "restarting":
                continue
            if not self._start_or_fail(member):
                return  # _failed has rescheduled what is left of the group
            member.restarts += 1
            self._publish("restarted", member, restarts=member.restarts)

    def _escalate(self, reason: BaseException | None) -> None:
        log.critical("restart intensity exceeded; escalating",
                     extra={"path": self.path or "root", "intensity": self.spec.intensity,
                            "period": self.spec.period, "error": repr(reason)})
        self.ctx.events.publish(Event("escalated", self.path or "root", self.ctx.clock.now(),
                                      {"reason": repr(reason)}))
        self._stop_all(reversed(self.children))
        raise Escalation(self.path or "root", reason)

    # ---- requests -------------------------------------------------------------------
    def _start_dynamic(self, spec: ChildSpec) -> str:
        if self._find_id(spec.id) is not None:
            raise AlreadyExists(f"{self.path or 'root'}: child {spec.id!r} already exists",
                                field="id")
        child = _Child(spec, self._path_of(spec.id), dynamic=True)
        exc = self._start_child(child)
        if exc is not None:  # the caller's answer; the supervisor and siblings live on
            raise FailedPrecondition(f"{child.path} failed to start: {exc!r}") from exc
        self.children.append(child)
        return child.path

    def _route(self, path: str, message: Any, local):
        for child in self.children:
            if child.path == path:
                return local(child)
        for child in self.children:
            if child.spec.is_supervisor and path.startswith(child.path + "/"):
                if child.ref is None:
                    raise ActorUnavailable(child.path, child.state)
                return _ask_down(child.ref, child.path, message)
        raise NotFound(f"no actor at {path!r}", field="path")

    def _stop_by_request(self, child: _Child) -> str:
        self._stop_child(child)
        if child.dynamic or child.spec.restart is Restart.TEMPORARY:
            self.children.remove(child)
        return child.path

    def _restart_by_request(self, child: _Child) -> str:
        self._stop_child(child, state="restarting")
        if self._start_or_fail(child):
            child.restarts += 1
            self._publish("restarted", child, restarts=child.restarts, requested=True)
        return child.path

    def _check(self, new: SupervisorSpec) -> None:
        """Refuse a spec that cannot be applied here or below, before changing anything."""
        dynamic = {c.spec.id for c in self.children if c.dynamic}
        clash = sorted(dynamic & {c.id for c in new.children})
        if clash:
            raise AlreadyExists(f"{self.path or 'root'}: {', '.join(map(repr, clash))} "
                                "already running as dynamic children", field="children")
        for spec in new.children:
            child = self._find_id(spec.id)
            if child is not None and spec.is_supervisor and child.ref is not None \
                    and child.spec.same_process(spec):
                _ask_down(child.ref, child.path, _CheckSpec(spec.config))

    def _apply(self, new: SupervisorSpec) -> DiffResult:
        """Reload: start added, stop removed, restart changed, leave the rest alone.

        The new order is in force before anything starts, so that a child failing to
        start meanwhile is handled (strategy, backoff) against the new tree.
        """
        result = DiffResult()
        old = {c.spec.id: c for c in self.children if not c.dynamic}
        wanted = {c.id for c in new.children}
        for child in reversed([c for c in self.children if not c.dynamic]):
            if child.spec.id not in wanted:
                self._stop_child(child)
                self.children.remove(child)
                result.stopped.append(child.path)
        self.spec = new
        plan: list[tuple[_Child, ChildSpec, str]] = []
        for spec in new.children:
            running = old.get(spec.id)
            what = "add" if running is None else \
                "keep" if running.spec.same_process(spec) else "change"
            plan.append((running or _Child(spec, self._path_of(spec.id)), spec, what))
        self.children = [c for c, _, _ in plan] + [c for c in self.children if c.dynamic]
        for child, spec, what in plan:
            if what == "add":
                result.started.append(child.path)
                if child in self.children:  # not removed meanwhile (temporary, failed)
                    self._start_or_fail(child)
            elif what == "change":
                self._stop_child(child, state="restarting")
                child.spec, child.consecutive = spec, 0
                result.restarted.append(child.path)
                if child in self.children:
                    self._start_or_fail(child)
            else:
                child.spec = spec
                if spec.is_supervisor and child.ref is not None:
                    try:
                        result.merge(_ask_down(child.ref, child.path, ApplySpec(spec.config)))
                    except OrbitalError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - it crashed: its exit follows
                        log.error("sub-supervisor failed to apply its spec",
                                  extra={"path": child.path, "error": repr(exc)})
                else:
                    result.unchanged += 1
        return result

    def _describe(self) -> list[ActorInfo]:
        out = []
        for child in self.children:
            out.append(ActorInfo(child.path, child.spec.kind, child.state, child.restarts,
                                 child.started_at, child.last_error, child.dynamic))
            if child.spec.is_supervisor and child.ref is not None:
                try:
                    out.extend(child.ref.ask(DescribeTree(), block=True, timeout=5))
                except Exception as exc:  # noqa: BLE001 - a busy subtree shows as such
                    out.append(ActorInfo(child.path + "/*", "?", "unknown", 0, 0, repr(exc)))
        return out

    # ---- helpers --------------------------------------------------------------------
    def _path_of(self, child_id: str) -> str:
        return self.ctx.child(child_id, self.actor_ref, 0).path  # only its path is used

    def _find_id(self, child_id: str) -> _Child | None:
        for child in self.children:
            if child.spec.id == child_id:
                return child
        return None

    def _publish(self, kind: str, child: _Child, **data: Any) -> None:
        self.ctx.events.publish(Event(kind, child.path, self.ctx.clock.now(), data))


def _ask_down(ref: pykka.ActorRef, path: str, message: Any) -> Any:
    """Ask the sub-supervisor ``ref`` at ``path``; its death meanwhile is a typed,
    retryable answer."""
    try:
        return ref.ask(message, block=True)
    except pykka.ActorDeadError:
        raise ActorUnavailable(path, "stopping") from None


def _tell(ref: pykka.ActorRef, message: Any) -> None:
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass  # the supervisor stopped meanwhile; nothing to restart
