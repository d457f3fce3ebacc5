"""Pins what :mod:`runtime._loop_ask` relies on in pykka 4 (an ``Envelope`` put in the actor's
inbox with a ``reply_to`` gets ``set(value)`` or ``set_exception(exc_info)`` from the actor's
thread), through :meth:`Registry.ask_async`: replies, errors, stopped actors, timeouts."""

from __future__ import annotations

import asyncio
import threading

import pykka
import pytest

from runtime import ActorUnavailable, NotFound, Registry


class Echo(pykka.ThreadingActor):
    def __init__(self, release: threading.Event | None = None) -> None:
        super().__init__()
        self.release = release

    def on_receive(self, message):
        if message == "boom":
            raise NotFound("no such thing", field="id")
        if message == "slow":
            self.release.wait(10)
        return ("echo", message)


@pytest.fixture
def registry():
    reg, refs = Registry(), []

    def start(path: str, **kw) -> pykka.ActorRef:
        ref = Echo.start(**kw)
        reg.register(path, ref)
        refs.append(ref)
        return ref
    yield reg, start
    for ref in refs:
        ref.stop()


def test_pykka_is_the_major_version_the_envelope_protocol_was_written_for():
    from importlib.metadata import version
    assert version("pykka").split(".")[0] == "4"


def test_a_reply_comes_back_on_the_loop_without_a_thread(registry):
    reg, start = registry
    start("echo")

    async def main():
        before = threading.active_count()
        got = await asyncio.gather(*(reg.ask_async("echo", i, timeout=5) for i in range(50)))
        return got, threading.active_count() - before
    got, extra_threads = asyncio.run(main())
    assert got == [("echo", i) for i in range(50)] and extra_threads == 0


def test_an_error_raised_by_the_actor_reaches_the_caller_as_is(registry):
    reg, start = registry
    start("echo")
    with pytest.raises(NotFound) as exc:
        asyncio.run(reg.ask_async("echo", "boom", timeout=5))
    assert exc.value.violations == [("id", "no such thing")]


def test_stopped_unregistered_and_silent_actors_are_unavailable(registry):
    reg, start = registry
    ref = start("stopped")
    ref.stop()
    with pytest.raises(ActorUnavailable, match="not running"):
        asyncio.run(reg.ask_async("stopped", 1, timeout=5))
    with pytest.raises(ActorUnavailable, match="not running"):
        asyncio.run(reg.ask_async("nobody", 1, timeout=5))
    release = threading.Event()
    start("slow", release=release)
    try:
        with pytest.raises(ActorUnavailable, match="not answering within 0.05s"):
            asyncio.run(reg.ask_async("slow", "slow", timeout=0.05))
    finally:
        release.set()
