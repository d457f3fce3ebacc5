"""Store.listen / Store.notify: wake-ups delivered at commit, dropped on rollback, and a
listener that survives its database restarting (real PostgreSQL; SQLite in-process).

Ordering, not time, proves "not before the commit": PostgreSQL delivers notifications in
commit order, so a marker notified and committed while the transaction under test is
still open arrives first; once the marker is seen, anything the open transaction sent
must not have been."""

from __future__ import annotations

import threading

import pytest

from runtime.store import Store
from runtime.testing import scratch_postgres_server, wait_until


class Heard:
    """A callback recording (channel, payload) pairs, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: list[tuple[str, str]] = []

    def on(self, channel: str):
        def callback(payload: str) -> None:
            with self.lock:
                self.got.append((channel, payload))
        return callback

    def payloads(self, channel: str) -> list[str]:
        with self.lock:
            return [p for c, p in self.got if c == channel]


@pytest.fixture
def two_stores(database_url, tmp_path):
    """Two stores on one database (two nodes on PostgreSQL; one process on SQLite)."""
    a = Store(database_url, state_dir=str(tmp_path), instance="a")
    a.migrate()
    b = a if not a.is_postgres else Store(database_url, state_dir=str(tmp_path), instance="b")
    yield a, b
    a.close()
    if b is not a:
        b.close()


def test_notify_is_delivered_after_commit_only(two_stores):
    a, b = two_stores
    heard = Heard()
    a.listen("intents", heard.on("intents"))
    with b.atomic():
        b.notify("intents", "0xabc")
        assert heard.payloads("intents") == []
    wait_until(lambda: heard.payloads("intents"), what="the notification after commit")
    assert heard.payloads("intents") == ["0xabc"]


def test_notify_waits_for_the_commit_on_postgres(pg_url, tmp_path):
    """A marker committed by another session while the notifying transaction is open
    arrives, and the open transaction's notification has not."""
    a = Store(pg_url, state_dir=str(tmp_path), instance="a")
    b = Store(pg_url, state_dir=str(tmp_path), instance="b")
    a.migrate()
    heard = Heard()
    a.listen("intents", heard.on("intents"))
    a.listen("marker", heard.on("marker"))
    notified = threading.Event()
    marker_seen = threading.Event()

    def writer() -> None:
        with b.atomic():
            b.notify("intents", "0xabc")
            notified.set()
            marker_seen.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert notified.wait(30)
        # the marker, in a session of its own, committed at once
        a.notify("marker", "m1")
        wait_until(lambda: heard.payloads("marker"), what="the marker")
        assert heard.payloads("intents") == []
    finally:
        marker_seen.set()
        thread.join(30)
    wait_until(lambda: heard.payloads("intents"), what="the notification after commit")
    assert heard.payloads("intents") == ["0xabc"]
    a.close()
    b.close()


def test_notify_is_dropped_on_rollback(two_stores):
    a, b = two_stores
    heard = Heard()
    a.listen("intents", heard.on("intents"))

    class Boom(Exception):
        pass

    with pytest.raises(Boom), b.atomic():
        b.notify("intents", "rolled-back")
        raise Boom
    with b.atomic():
        b.notify("intents", "committed")
    wait_until(lambda: heard.payloads("intents"), what="the committed notification")
    # delivered in commit order: had the rolled-back one been sent, it would be first
    assert heard.payloads("intents") == ["committed"]


def test_notify_outside_a_transaction_is_sent_at_once(two_stores):
    a, b = two_stores
    heard = Heard()
    a.listen("x", heard.on("x"))
    b.notify("x")
    assert wait_until(lambda: heard.payloads("x")) == [""]


def test_sqlite_notify_calls_back_in_process_after_commit(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/one.db", state_dir=str(tmp_path))
    store.migrate()
    heard = Heard()
    store.listen("intents", heard.on("intents"))
    with store.atomic():
        store.notify("intents", "1")
        with store.atomic():   # a nested one: still waits for the outermost commit
            store.notify("intents", "2")
        assert heard.payloads("intents") == []
    assert heard.payloads("intents") == ["1", "2"]   # called by the committing thread
    store.close()


def test_a_callback_that_raises_does_not_stop_the_others(two_stores):
    a, b = two_stores
    heard = Heard()

    def broken(payload: str) -> None:
        raise RuntimeError("bug in a callback")

    a.listen("x", broken)
    a.listen("x", heard.on("x"))
    b.notify("x", "1")
    b.notify("x", "2")
    assert wait_until(lambda: heard.payloads("x") == ["1", "2"])


def test_listener_survives_a_postgres_restart_and_wakes_everyone(tmp_path):
    with scratch_postgres_server() as pg:
        listening = Store(pg.url, state_dir=str(tmp_path), instance="a")
        sending = Store(pg.url, state_dir=str(tmp_path), instance="b")
        listening.migrate()
        heard = Heard()
        listening.listen("intents", heard.on("intents"))
        listening.listen("solvers", heard.on("solvers"))
        sending.notify("intents", "before")
        wait_until(lambda: heard.payloads("intents") == ["before"])

        pg.stop()
        pg.start()
        # after the reconnect every callback is called once: notifications may be lost
        wait_until(lambda: heard.payloads("solvers") == [""], what="the wake-up on reconnect")
        assert heard.payloads("intents") == ["before", ""]
        assert listening.listener_reconnects == 1
        wait_until(lambda: _notify_ok(sending, "intents", "after"), what="the sender's reconnect")
        wait_until(lambda: heard.payloads("intents")[-1:] == ["after"],
                   what="a notification after the restart")
        listening.close()
        sending.close()


def _notify_ok(store: Store, channel: str, payload: str) -> bool:
    from runtime import Unavailable
    try:
        store.notify(channel, payload)
    except Unavailable:
        return False
    return True


def _listeners() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "orbital-store-listen" and t.is_alive()}


def test_close_stops_the_listener(pg_url, tmp_path):
    before = _listeners()   # other tests' stores may still listen: only this one's counts
    store = Store(pg_url, state_dir=str(tmp_path))
    store.listen("x", lambda payload: None)
    assert len(_listeners() - before) == 1
    store.close()
    assert not _listeners() - before


def test_the_last_unlisten_stops_the_listener(pg_url, tmp_path):
    """An actor that stops unlistens: with no callback left, the store holds no listener
    thread nor its connection, though the store itself stays open."""
    before = _listeners()
    store = Store(pg_url, state_dir=str(tmp_path))
    first, second = (lambda payload: None), (lambda payload: None)
    store.listen("x", first)
    store.listen("y", second)
    store.unlisten("x", first)
    assert len(_listeners() - before) == 1      # "y" still has a callback
    store.unlisten("y", second)
    assert not _listeners() - before
    store.listen("x", first)                    # and listening again starts a new one
    assert len(_listeners() - before) == 1
    store.close()


def test_the_listener_works_in_a_process_with_over_1024_descriptors(pg_url, tmp_path):
    """A busy node holds many sockets and files: the listener's connection and wake-up pipe
    are then numbered above 1024, which select() refuses (the listener failed on every
    reconnect and woke its callbacks with "" in a loop); it waits with poll()."""
    import os
    import resource
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= 1200, "the test needs 1200 open files (ulimit -n)"
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        a = Store(pg_url, state_dir=str(tmp_path), instance="a")
        b = Store(pg_url, state_dir=str(tmp_path), instance="b")
        heard = Heard()
        a.listen("x", heard.on("x"))
        b.notify("x", "1")
        wait_until(lambda: heard.payloads("x"), what="the notification")
        assert heard.payloads("x") == ["1"]
        a.close()
        b.close()
    finally:
        for fd in held:
            os.close(fd)
