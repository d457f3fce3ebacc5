"""Backpressure of a solver stream's reader (actors.solvers._flood.backpressure): while the
session actor has ``solver_backlog`` messages queued, the reader reads no more from the
stream (HTTP/2 flow control then holds the solver's writes), and it reads again as soon as
the actor has worked the queue down. A real pykka actor, blocked, stands in for a busy
session actor."""

from __future__ import annotations

import asyncio
import threading

import pykka

from actors.solvers._flood import backpressure


class Busy(pykka.ThreadingActor):
    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate

    def on_receive(self, message):
        self.gate.wait(10)   # busy until the test opens the gate


def test_the_reader_waits_while_the_actor_is_backed_up_and_reads_again_after():
    gate = threading.Event()
    ref = Busy.start(gate)
    try:
        for i in range(6):             # one in hand, five queued
            ref.tell(i)

        async def main() -> tuple[bool, bool]:
            waiting = asyncio.ensure_future(backpressure(ref, 5))
            await asyncio.sleep(0.1)
            held = not waiting.done()          # five queued: the reader waits
            gate.set()                         # the actor works its queue down
            await asyncio.wait_for(waiting, 5)
            return held, waiting.done()
        held, resumed = asyncio.run(main())
    finally:
        gate.set()
        ref.stop()
    assert held and resumed


def test_under_the_backlog_the_reader_does_not_wait():
    gate = threading.Event()
    ref = Busy.start(gate)
    try:
        for i in range(3):
            ref.tell(i)
        asyncio.run(asyncio.wait_for(backpressure(ref, 5), 1))   # returns at once
    finally:
        gate.set()
        ref.stop()
