"""A fleet of solver sessions in one separate process (grpc.aio), driven over a pipe.

Each solver logs in like a real one (GetChallenge, EIP-191 signature of the challenge,
hello on a Session stream, wait for Welcome), then reads: offers are stamped with
``time.time()`` on receipt (same host as the submitter, so wall clocks agree) and kept
when ``record`` is on; with ``bidding`` on, each solver bids the minimum on every offer
and awards are stamped on receipt; everything else is read and dropped. Streams share channels (up
to :data:`PER_CHANNEL` each), as one solver operator process would.

Commands (``Fleet.call(name, **kw)`` from the bench): ``connect(n)``, ``record(on)``,
``offers()`` (and clear), ``bidding(on)``, ``awards()`` (and clear), ``status()``,
``close()``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time

__all__ = ["Fleet"]

PER_CHANNEL = 100
CHAINS = ("devnet-a", "devnet-b")


class Fleet:
    """The bench's handle on the solver process."""

    def __init__(self, target: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_main, args=(child, target), daemon=True)
        self.process.start()
        child.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def call(self, name: str, timeout: float = 120, **kw):
        self._conn.send((name, kw))
        if not self._conn.poll(timeout):
            raise RuntimeError(f"solver fleet: {name} did not answer within {timeout}s")
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"solver fleet: {name} failed: {value}")
        return value

    def close(self) -> None:
        try:
            if self.process.is_alive():
                self.call("close", timeout=15)
        except (RuntimeError, OSError, EOFError):
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


# ---- inside the solver process -----------------------------------------------------------------
def _main(conn, target: str) -> None:
    loop = asyncio.new_event_loop()
    fleet = _Fleet(target)
    threading.Thread(target=loop.run_forever, daemon=True).start()
    while True:
        try:
            name, kw = conn.recv()
        except EOFError:
            name, kw = "close", {}
        try:
            value = asyncio.run_coroutine_threadsafe(getattr(fleet, name)(**kw), loop).result()
            conn.send((True, value))
        except Exception as exc:  # noqa: BLE001 - reported to the bench, which raises
            conn.send((False, repr(exc)))
        if name == "close":
            return


class _Fleet:
    def __init__(self, target: str) -> None:
        self.target = target
        self.channels: list = []
        self.calls: list = []
        self.tasks: list = []
        self.recording = False
        self.stamps: list[tuple[str, float]] = []
        self.bid = False
        self.award_stamps: list[tuple[str, float]] = []
        self.received = 0
        self.ended: dict[str, int] = {}
        self.index = 0

    async def connect(self, n: int, concurrency: int = 50) -> dict:
        import grpc
        from orbital.v1 import solver_pb2_grpc
        began = time.perf_counter()
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            slot = i // PER_CHANNEL
            while len(self.channels) <= slot:
                self.channels.append(grpc.aio.insecure_channel(self.target))
            stub = solver_pb2_grpc.SolverServiceStub(self.channels[slot])
            async with sem:
                await self._login(stub, i)
        first = self.index
        self.index += n
        await asyncio.gather(*(one(i) for i in range(first, first + n)))
        return {"connected": len(self.calls), "seconds": time.perf_counter() - began}

    async def _login(self, stub, i: int) -> None:
        import coincurve
        import grpc
        from eth_utils import keccak, to_checksum_address
        from orbital.v1 import solver_pb2
        key = coincurve.PrivateKey(keccak(f"orbital-bench-solver-{os.getpid()}-{i}".encode()))
        address = to_checksum_address(keccak(key.public_key.format(compressed=False)[1:])[-20:])
        challenge = (await stub.GetChallenge(solver_pb2.GetChallengeRequest(solver=address),
                                             timeout=30)).message
        raw = challenge.encode()
        digest = keccak(b"\x19Ethereum Signed Message:\n" + str(len(raw)).encode() + raw)
        sig = key.sign_recoverable(digest, hasher=None)
        signature = "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()
        call = stub.Session()
        await call.write(solver_pb2.SolverMessage(hello=solver_pb2.Hello(
            solver=address, challenge=challenge, signature=signature, chains=list(CHAINS))))
        first = await call.read()
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "welcome":
            raise RuntimeError(f"solver {i}: no welcome ({await call.code()}: "
                               f"{await call.details()})")
        self.calls.append(call)
        self.tasks.append(asyncio.ensure_future(self._read(call)))

    async def _read(self, call) -> None:
        import grpc
        from orbital.v1 import solver_pb2
        try:
            while True:
                msg = await call.read()
                if msg is grpc.aio.EOF:
                    break
                self.received += 1
                kind = msg.WhichOneof("kind")
                if kind == "offers":
                    if self.recording:
                        now = time.time()
                        self.stamps += [(o.intent.id, now) for o in msg.offers.offers]
                    if self.bid:
                        for o in msg.offers.offers:
                            await call.write(solver_pb2.SolverMessage(bid=solver_pb2.Bid(
                                intent_id=o.intent.id,
                                output_amount=o.intent.min_output_amount)))
                elif kind == "award":
                    self.award_stamps.append((msg.award.intent_id, time.time()))
            code = (await call.code()).name
        except grpc.aio.AioRpcError as exc:
            code = f"{exc.code().name}: {exc.details()[:60]}"
        except asyncio.CancelledError:
            return
        self.ended[code] = self.ended.get(code, 0) + 1

    async def record(self, on: bool) -> None:
        self.recording = on

    async def offers(self) -> list[tuple[str, float]]:
        out, self.stamps = self.stamps, []
        return out

    async def bidding(self, on: bool) -> None:
        self.bid = on

    async def awards(self) -> list[tuple[str, float]]:
        out, self.award_stamps = self.award_stamps, []
        return out

    async def status(self) -> dict:
        return {"sessions": len(self.calls) - sum(self.ended.values()),
                "received": self.received, "ended": dict(self.ended)}

    async def close(self) -> None:
        for call in self.calls:
            call.cancel()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for ch in self.channels:
            await ch.close()
