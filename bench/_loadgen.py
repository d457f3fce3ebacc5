"""The client side of the intents benchmark: signed orders and grpc.aio load, in its own process.

Runs inside a one-worker ``ProcessPoolExecutor`` (spawn) of the bench, so the node's two
cores are loaded the way a real client process would load them, and the signing cost stays
on the client. State kept between calls (the pre-signed order sets) lives in this worker's
module globals: :func:`prepare` signs, the load functions consume.

Orders are signed with coincurve over :func:`protocol.order_digest` (the protocol's
hand-hashed EIP-712 digest, no eth-account typed-data walk): ~0.1 ms per order instead of
several ms. The typed data sent is a template filled per order; :func:`prepare` checks, on
the first orders, that it parses back to the order signed and that the signature recovers
the user (:func:`protocol.recover_order_signer`), as the node will.

Requests go out as serialized bytes (no client-side protobuf work in the timed loop) and
replies are not parsed, except where an intent id is needed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Iterator

import coincurve
import grpc
from eth_utils import keccak, to_checksum_address

__all__ = ["prepare", "consumed", "closed_loop", "batch_loop", "open_loop", "paced_submits",
           "pid", "SUBMIT", "SUBMIT_MANY", "HEALTH"]

SUBMIT = "/orbital.v1.IntentService/SubmitIntent"
SUBMIT_MANY = "/orbital.v1.IntentService/SubmitIntents"
HEALTH = "/grpc.health.v1.Health/Check"
USERS = 256

_SETS: dict[str, list[tuple[str, bytes]]] = {}
_LOOP: asyncio.AbstractEventLoop | None = None
_CURSOR: dict[str, int] = {}


def pid() -> int:
    return os.getpid()


def consumed(name: str) -> int:
    """Orders of set ``name`` sent so far (each one answered: the load functions wait)."""
    return _CURSOR.get(name, 0)


def _run(coro):
    """One event loop for the worker's life: grpc.aio's poller outlives a loop that
    ``asyncio.run`` would close under it (EBADF noise on stderr)."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        asyncio.set_event_loop(_LOOP)
    return _LOOP.run_until_complete(coro)


# ---- orders ---------------------------------------------------------------------------------
def _users(seed: str, count: int = USERS) -> list[tuple[coincurve.PrivateKey, str]]:
    out = []
    for i in range(count):
        key = coincurve.PrivateKey(keccak(f"orbital-bench-user-{seed}-{i}".encode()))
        pub = key.public_key.format(compressed=False)[1:]
        out.append((key, to_checksum_address(keccak(pub)[-20:])))
    return out


def prepare(name: str, n: int, seed: str, users: int = USERS) -> tuple[int, float]:
    """Sign ``n`` distinct orders (``users`` users, 256 by default; fresh nonces) as the set
    ``name``."""
    from devnet import predicted_addresses
    from orbital.v1 import intents_pb2
    from protocol import (GaslessOrder, OrbitalOrder, order_digest, order_typed_data,
                          parse_order_typed_data, recover_order_signer)
    began = time.perf_counter()
    addr = predicted_addresses()
    settler, usdc = to_checksum_address(addr["settler"]), to_checksum_address(addr["USDC"])
    origin, dest, amount = 31337, 31338, 100 * 10**6
    now = int(time.time())
    opens, fills = now + 1800, now + 7200
    signers = _users(seed, users)
    template: dict | None = None
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        key, user = signers[i % users]
        nonce = 1_000_000 + i // users
        min_out = amount * 99 // 100
        order = GaslessOrder(settler, user, nonce, origin, opens, fills,
                             OrbitalOrder(usdc, amount, usdc, min_out, user, dest))
        if template is None:  # the first order's typed data, the others' template
            template = order_typed_data(order)
        msg = dict(template["message"], user=user, nonce=str(nonce),
                   orderData=dict(template["message"]["orderData"], recipient=user))
        typed = dict(template, message=msg)
        sig = key.sign_recoverable(order_digest(order), hasher=None)
        signature = "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()
        text = json.dumps(typed, separators=(",", ":"))
        if i < 2:  # trust the template only once the node's own checks agree with it
            assert parse_order_typed_data(text) == order, "templated typed data differs"
            assert recover_order_signer(order, signature) == user, "signature does not recover"
        oid = "0x" + order.order_id.hex()
        req = intents_pb2.SubmitIntentRequest(typed_data=text, signature=signature)
        out.append((oid, req.SerializeToString()))
    _SETS.clear()   # one phase at a time: the previous set is spent
    _SETS[name] = out
    _CURSOR[name] = 0
    return n, time.perf_counter() - began


def _take(name: str | None) -> Iterator[tuple[str, bytes]]:
    if name is None:  # the empty RPC: the same request forever
        from grpc_health.v1 import health_pb2
        body = health_pb2.HealthCheckRequest().SerializeToString()
        while True:
            yield "", body
    items = _SETS[name]
    while _CURSOR[name] < len(items):
        _CURSOR[name] += 1
        yield items[_CURSOR[name] - 1]


def _channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=[("grpc.max_send_message_length", 1 << 22)])


# ---- closed loop: the sustained rate ----------------------------------------------------------
def closed_loop(target: str, method: str, set_name: str | None, concurrency: int,
                warmup: float, duration: float) -> dict:
    """``concurrency`` calls always in flight; completions counted inside the window after
    ``warmup``. Stops early (and says so) if the order set runs out."""
    return _run(_closed(target, method, set_name, concurrency, warmup, duration))


async def _closed(target, method, set_name, concurrency, warmup, duration) -> dict:
    items = _take(set_name)
    errors: Counter = Counter()
    done, latencies, last = 0, [], 0.0
    exhausted = False
    async with _channel(target) as ch:
        call = ch.unary_unary(method)
        await ch.channel_ready()
        start = time.perf_counter()
        begin, end = start + warmup, start + warmup + duration

        async def worker() -> None:
            nonlocal done, last, exhausted
            while (t0 := time.perf_counter()) < end:
                item = next(items, None)
                if item is None:
                    exhausted = True
                    return
                try:
                    await call(item[1], timeout=30)
                except grpc.aio.AioRpcError as exc:
                    errors[f"{exc.code().name}: {exc.details()[:80]}"] += 1
                    continue
                t1 = time.perf_counter()
                if begin <= t1 < end:
                    done += 1
                    last = t1
                    latencies.append(t1 - t0)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    window = (last if exhausted else end) - begin
    return {"rate": done / window if window > 0 else 0.0, "done": done, "window": window,
            "exhausted": exhausted, "errors": dict(errors), "latencies": latencies}


# ---- closed loop of batches: SubmitIntents ---------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def batch_loop(target: str, set_name: str, batch: int, concurrency: int, warmup: float,
               duration: float) -> dict:
    """``concurrency`` SubmitIntents calls of ``batch`` orders always in flight; the rate
    is of intents the node accepted (each reply's results counted), inside the window."""
    return _run(_batched(target, set_name, batch, concurrency, warmup, duration))


async def _batched(target, set_name, batch, concurrency, warmup, duration) -> dict:
    from orbital.v1 import intents_pb2
    items = _take(set_name)
    errors: Counter = Counter()
    accepted, calls, last = 0, 0, 0.0
    exhausted = False
    async with _channel(target) as ch:
        call = ch.unary_unary(SUBMIT_MANY)
        await ch.channel_ready()
        start = time.perf_counter()
        begin, end = start + warmup, start + warmup + duration

        async def worker() -> None:
            nonlocal accepted, calls, last, exhausted
            while time.perf_counter() < end:
                bodies = [b for _, (_, b) in zip(range(batch), items)]
                if len(bodies) < batch:
                    exhausted = True
                    return
                # SubmitIntentsRequest: field 1 (orders), each a length-delimited message
                body = b"".join(b"\x0a" + _varint(len(b)) + b for b in bodies)
                try:
                    raw = await call(body, timeout=30)
                except grpc.aio.AioRpcError as exc:
                    errors[f"{exc.code().name}: {exc.details()[:80]}"] += 1
                    continue
                reply = intents_pb2.SubmitIntentsResponse.FromString(raw)
                ok = sum(r.HasField("intent") for r in reply.results)
                for r in reply.results:
                    if not r.HasField("intent"):
                        errors[f"item {r.error.code}: {r.error.message[:80]}"] += 1
                t1 = time.perf_counter()
                if begin <= t1 < end:
                    accepted += ok
                    calls += 1
                    last = t1
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    window = (last if exhausted else end) - begin
    return {"rate": accepted / window if window > 0 else 0.0, "calls": calls,
            "window": window, "exhausted": exhausted, "errors": dict(errors)}


# ---- open loop: latency at a fixed offered rate -----------------------------------------------
def open_loop(target: str, method: str, set_name: str, rate: float, duration: float) -> dict:
    """Send at ``rate``/s on a fixed schedule whatever the replies do; latency from each
    call's *scheduled* time (a client that lags does not hide the server's queueing)."""
    return _run(_open(target, method, set_name, rate, duration))


async def _open(target, method, set_name, rate, duration, wall: bool = False) -> dict:
    items = _take(set_name)
    errors: Counter = Counter()
    latencies: list[float] = []
    stamps: list[tuple[str, float, float]] = []
    async with _channel(target) as ch:
        call = ch.unary_unary(method)
        await ch.channel_ready()

        async def one(oid: str, body: bytes, due: float, wall0: float) -> None:
            try:
                await call(body, timeout=30)
            except grpc.aio.AioRpcError as exc:
                errors[f"{exc.code().name}: {exc.details()[:80]}"] += 1
                return
            latencies.append(time.perf_counter() - due)
            if wall:
                stamps.append((oid, wall0, time.time()))
        tasks = []
        start = time.perf_counter() + 0.05
        n = int(rate * duration)
        for i in range(n):
            item = next(items, None)
            if item is None:
                break
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(item[0], item[1], due, time.time())))
        sent_in = time.perf_counter() - start
        await asyncio.gather(*tasks)
    return {"sent": len(tasks), "offered_rate": len(tasks) / sent_in if sent_in > 0 else 0.0,
            "errors": dict(errors), "latencies": latencies, "stamps": stamps}


def paced_submits(target: str, set_name: str, rate: float, count: int) -> dict:
    """Submit ``count`` orders at ``rate``/s; (intent id, wall time sent, wall time replied)."""
    return _run(_open(target, SUBMIT, set_name, rate, count / rate, wall=True))
