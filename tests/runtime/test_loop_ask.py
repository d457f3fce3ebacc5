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



def test_a_batch_answers_its_loop_asks_with_one_wake_up():
    """Asks from the gRPC loop that an actor handles as one batch (handle_batch) are answered
    with ONE call_soon_threadsafe, each caller with its own value or typed error."""
    from runtime import Actor, ActorContext, EventBus, MonotonicClock, OrbitalError

    hold = threading.Event()

    class Adder(Actor):
        batched = frozenset({int})

        def handle(self, message):
            hold.wait(10)          # "hold": the asks queue up behind it, then batch

        def handle_batch(self, messages):
            return [NotFound(f"no {m}") if m < 0 else m + 1 for m in messages]

    reg = Registry()
    ref = Adder.start(ActorContext(path="adder", registry=reg, clock=MonotonicClock(),
                                   events=EventBus()))
    reg.register("adder", ref)
    ref.tell("hold")
    try:
        async def main():
            loop = asyncio.get_running_loop()
            wakeups = []
            original = loop.call_soon_threadsafe

            def counting(*args, **kw):
                wakeups.append(args[0])
                return original(*args, **kw)
            loop.call_soon_threadsafe = counting   # type: ignore[method-assign]
            asks = asyncio.gather(*(reg.ask_async("adder", i, timeout=5) for i in (1, 2, -3, 4)),
                                  return_exceptions=True)
            loop.call_soon(hold.set)    # after the four asks are in the actor's inbox
            return await asks, len(wakeups)
        got, wakeups = asyncio.run(main())
    finally:
        ref.stop()
    assert got[0] == 2 and got[1] == 3 and got[3] == 5
    assert isinstance(got[2], OrbitalError) and "no -3" in str(got[2])
    assert wakeups == 1
