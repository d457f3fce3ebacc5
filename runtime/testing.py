"""Public testing helpers: a fake clock and an event recorder, so tests never sleep.

``FakeClock`` fires timers only when the test calls :meth:`FakeClock.advance`;
``EventRecorder`` lets a test block until the tree reports what it waits for (with a
timeout that only bounds a failing test, never paces a passing one). ``scratch_postgres``
gives a test run or a benchmark a PostgreSQL database of its own; with
``scratch_postgres_server`` it is on a PostgreSQL server of its own, which the test may
stop and start again (an outage that touches no one else on a shared machine).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from typing import Any
from collections.abc import Callable, Iterator

import pykka

from ._actor import ActorContext
from ._clock import Timer
from ._events import Event, EventBus
from ._registry import Registry
from ._spec import SupervisorSpec
from ._supervisor import Supervisor

__all__ = ["FakeClock", "EventRecorder", "MessageRecorder", "start_tree", "wait_until",
           "postgres_admin", "scratch_postgres", "PostgresServer", "scratch_postgres_server"]


class FakeClock:
    """A clock whose time moves only when told to."""

    def __init__(self, start: float = 1000.0, wall_offset: float = 1.7e9) -> None:
        self._now = start
        self._wall_offset = wall_offset
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(self._now + max(0.0, delay), fn)
        with self._lock:
            heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
        return timer

    def pending(self) -> list[float]:
        """Due times of the timers not yet fired nor cancelled."""
        with self._lock:
            return sorted(t.due for _, _, t in self._heap if not t.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, in order."""
        target = self._now + seconds
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > target:
                    break
                due, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            if not timer.cancelled:
                timer.fn()
        self._now = target


class EventRecorder:
    """Collects tree events; :meth:`wait_for` blocks until a matching one has been seen."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self.unsubscribe = bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: str | None = None, path: str | None = None) -> list[Event]:
        with self._cond:
            return [e for e in self.events
                    if (kind is None or e.kind == kind) and (path is None or e.path == path)]

    def wait_for(self, kind: str, path: str | None = None, count: int = 1,
                 timeout: float = 10.0, **data: Any) -> list[Event]:
        def matching():
            return [e for e in self.events if e.kind == kind
                    and (path is None or e.path == path)
                    and all(e.data.get(k) == v for k, v in data.items())]
        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                raise AssertionError(
                    f"timed out waiting for {count} {kind!r} event(s) on {path!r}; "
                    f"saw {[(e.kind, e.path) for e in self.events][-20:]}")
            return matching()


def wait_until(fn: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
               interval: float = 0.02) -> Any:
    """Poll ``fn`` until it returns something truthy, and return that.

    For waiting on real processes and real chains (which have no fake clock); the timeout
    only bounds a failing test, it is never part of what a test asserts.
    """
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def start_tree(spec: SupervisorSpec, *, clock=None, services: Any = None,
               on_exit: Callable[[BaseException | None], None] | None = None,
               observe=None):
    """Start a root supervisor for a test; returns ``(ref, ctx, recorder)``."""
    from ._actor import Init
    from ._clock import MonotonicClock
    ctx = ActorContext(path="", registry=Registry(), clock=clock or MonotonicClock(),
                       events=EventBus(), services=services, on_exit=on_exit, observe=observe)
    recorder = EventRecorder(ctx.events)
    ref: pykka.ActorRef = Supervisor.start(ctx, spec)
    ref.ask(Init())
    return ref, ctx, recorder


class MessageRecorder(pykka.ThreadingActor):
    """A stand-in actor that keeps what it is told (only instances of ``kinds``, if given)
    and answers ``ask("seen")`` with the list so far: registered at a path (the book, the
    alerts actor) it shows a test exactly what the actor under test sent there."""

    def __init__(self, kinds: tuple[type, ...] = ()) -> None:
        super().__init__()
        self.kinds = kinds
        self.seen: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "seen":
            return list(self.seen)
        if not self.kinds or isinstance(message, self.kinds):
            self.seen.append(message)
        return None


def postgres_admin(url: str):
    """An autocommit psycopg2 connection to the database of ``url`` (CREATE/DROP DATABASE
    and schema resets need one outside any transaction)."""
    from urllib.parse import urlparse

    import psycopg2
    p = urlparse(url)
    conn = psycopg2.connect(dbname=p.path.lstrip("/") or "postgres", user=p.username,
                            password=p.password, host=p.hostname, port=p.port or 5432)
    conn.autocommit = True
    return conn


@contextlib.contextmanager
def scratch_postgres(base_url: str, prefix: str = "orbital_scratch") -> Iterator[str]:
    """A new, empty database on the server of ``base_url`` for the block (its URL), dropped
    after it (WITH FORCE: connections a test left open do not keep it)."""
    import os
    import uuid
    from urllib.parse import urlparse, urlunparse
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = postgres_admin(base_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield urlunparse(urlparse(base_url)._replace(path=f"/{name}"))
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


class PostgresServer:
    """A PostgreSQL server of a test's own (``initdb`` into a scratch directory, the same
    server binary as the system's), on a free loopback port, trust auth. :meth:`stop`
    (``pg_ctl stop -m fast``: connections are cut as in an outage) and :meth:`start` on
    the same data directory; the data survives. Run as root, the commands run as the
    ``postgres`` user (initdb refuses root)."""

    def __init__(self, directory: str, port: int) -> None:
        self.directory = directory
        self.data = f"{directory}/data"
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *argv: str) -> None:
        import os
        import shutil
        import subprocess
        tool = shutil.which(argv[0]) or argv[0]
        cmd = [tool, *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()[-500:]}")

    def init(self) -> None:
        import os
        import shutil
        os.makedirs(self.directory, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")

    def start(self) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
                "-c fsync=off -c max_connections=50")
        self._run("pg_ctl", "start", "-w", "-D", self.data, "-o", opts,
                  "-l", f"{self.directory}/server.log")

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data)


@contextlib.contextmanager
def scratch_postgres_server() -> Iterator[PostgresServer]:
    """A started :class:`PostgresServer` for the block; stopped and deleted after it,
    whatever state the test left it in. Its directory is a fresh one under the system's
    temp dir (a test's tmp_path may be closed to the ``postgres`` user)."""
    import shutil
    import socket
    import tempfile
    directory = tempfile.mkdtemp(prefix="orbital-pg-")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = PostgresServer(directory, port)
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - stopped by the test already, or never started
            pass
        shutil.rmtree(directory, ignore_errors=True)
