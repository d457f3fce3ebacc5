"""Test actor kinds and messages for the supervision suite (imported by the test modules).

Every instance gets a fresh ``uid`` in ``setup()``, so a test tells a restarted actor from
a surviving one by identity rather than by timing. Configs are frozen dataclasses (a
reload compares them); the shared mutable helpers they carry (:class:`Journal`,
:class:`SetupFailures`, :class:`Gate`) compare by identity, so the same helper object in
two specs keeps the child "unchanged".
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from runtime import (
    Actor,
    ActorInfo,
    Backoff,
    ChildSpec,
    NotFound,
    Restart,
    Strategy,
    Supervisor,
    SupervisorSpec,
)


# ---- messages ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Whoami:
    """Ask: returns the :class:`Identity` of the instance answering."""


@dataclass(frozen=True)
class Identity:
    uid: str
    generation: int
    path: str


@dataclass(frozen=True)
class Crash:
    """Raise a plain exception (a bug): told -> crash; asked -> caller gets it + crash."""

    why: str = "boom"


@dataclass(frozen=True)
class Typed:
    """Raise a typed OrbitalError: an answer to the caller, the actor lives on."""

    why: str = "no such thing"


@dataclass(frozen=True)
class Exit:
    """Stop normally (the actor calls ``self.stop()``)."""


@dataclass(frozen=True)
class Block:
    """Block the handler until ``gate`` is released (an actor that ignores stop)."""

    gate: Gate


@dataclass(frozen=True)
class Incr:
    """Counter: add one and persist it before answering with the new value."""


# ---- shared helpers carried in configs (identity equality) ---------------------------
class Journal:
    """Thread-safe record of lifecycle calls: ("setup"|"teardown", path, uid)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[tuple[str, str, str]] = []

    def add(self, what: str, path: str, uid: str) -> None:
        with self._lock:
            self.entries.append((what, path, uid))

    def of(self, what: str) -> list[str]:
        with self._lock:
            return [p for w, p, _ in self.entries if w == what]


class SetupFailures:
    """Makes ``setup()`` raise for the next ``remaining`` starts (or forever if -1)."""

    def __init__(self, remaining: int = 0) -> None:
        self._lock = threading.Lock()
        self.remaining = remaining
        self.raised = 0

    def check(self, path: str) -> None:
        with self._lock:
            if self.remaining == 0:
                return
            if self.remaining > 0:
                self.remaining -= 1
            self.raised += 1
        raise RuntimeError(f"{path}: setup failed on purpose")


class Gate:
    """A threading.Event the test controls, plus a signal that the handler is inside."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


# ---- actor kinds ------------------------------------------------------------------------
class HangOnce:
    """Makes the next ``setup()`` block on ``gate`` (a start that outlives start_timeout)."""

    def __init__(self) -> None:
        self.gate = Gate()
        self.armed = False

    def check(self) -> None:
        if self.armed:
            self.armed = False
            self.gate.entered.set()
            self.gate.release.wait(30)


@dataclass(frozen=True)
class ProbeConfig:
    tag: str = ""
    journal: Journal | None = None
    failures: SetupFailures | None = None
    hang: HangOnce | None = None


class Probe(Actor):
    """The test kind: identity, crashes of every flavour, normal exit, blocking."""

    kind = "probe"

    def setup(self) -> None:
        cfg = self.config or ProbeConfig()
        if cfg.failures is not None:
            cfg.failures.check(self.path)
        if cfg.hang is not None:
            cfg.hang.check()
        self.uid = uuid.uuid4().hex
        if cfg.journal is not None:
            cfg.journal.add("setup", self.path, self.uid)

    def teardown(self) -> None:
        cfg = self.config or ProbeConfig()
        if cfg.journal is not None:
            cfg.journal.add("teardown", self.path, getattr(self, "uid", ""))

    def handle(self, message: Any) -> Any:
        if isinstance(message, Whoami):
            return Identity(self.uid, self.ctx.generation, self.path)
        if isinstance(message, Crash):
            raise RuntimeError(message.why)
        if isinstance(message, Typed):
            raise NotFound(message.why, field="thing")
        if isinstance(message, Exit):
            self.stop()
            return None
        if isinstance(message, Block):
            message.gate.entered.set()
            message.gate.release.wait(30)
            return None
        return super().handle(message)


class OtherProbe(Probe):
    """Same behaviour, another class: a reload that swaps the class restarts the child."""

    kind = "other-probe"


@dataclass(frozen=True)
class CounterConfig:
    file: str


class Counter(Probe):
    """Keeps a count in a real file: setup() rebuilds it, as a watcher resumes its cursor."""

    kind = "counter"

    def setup(self) -> None:
        self.uid = uuid.uuid4().hex
        try:
            with open(self.config.file) as fh:
                self.count = int(fh.read() or 0)
        except FileNotFoundError:
            self.count = 0

    def teardown(self) -> None:
        pass

    def handle(self, message: Any) -> Any:
        if isinstance(message, Incr):
            self.count += 1
            tmp = f"{self.config.file}.tmp"
            with open(tmp, "w") as fh:
                fh.write(str(self.count))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.config.file)
            return self.count
        if message == "count":
            return self.count
        return super().handle(message)


# ---- spec builders ----------------------------------------------------------------------
NO_BACKOFF = Backoff(initial=0)


def probe(cid: str, restart: Restart = Restart.PERMANENT, *, actor: type = Probe,
          shutdown: float = 2.0, **cfg: Any) -> ChildSpec:
    return ChildSpec(cid, actor, ProbeConfig(**cfg), restart, shutdown)


def sup(*children: ChildSpec, strategy: Strategy = Strategy.ONE_FOR_ONE, intensity: int = 10,
        period: float = 5.0, backoff: Backoff = NO_BACKOFF,
        start_timeout: float = 30.0) -> SupervisorSpec:
    return SupervisorSpec(strategy=strategy, intensity=intensity, period=period,
                          backoff=backoff, children=tuple(children),
                          start_timeout=start_timeout)


def subsup(cid: str, *children: ChildSpec, restart: Restart = Restart.PERMANENT,
           **kw: Any) -> ChildSpec:
    return ChildSpec(cid, Supervisor, sup(*children, **kw), restart, shutdown=10.0)


def by_path(infos: list[ActorInfo]) -> dict[str, ActorInfo]:
    return {i.path: i for i in infos}
