"""Nodes on one PostgreSQL database (docs/cluster.md).

1. SubmitIntent through the node that holds the book, beside the same call through a node
   that does not (it forwards to the holder).
2. Failover: the node holding the book is killed (SIGKILL); from the kill to the first
   action of the new holder (a submission through the surviving node committed by its
   book), p50 and p99 over FAILOVER_TRIALS kills, beside the lease TTL (target: under
   TTL + 1 s). Also the time until the lease row names the survivor.
3. Transition fan-out across nodes: submissions committed by node A's book, read from a
   WatchIntents stream on node B (which follows A's committed transitions); latency from
   the transition's commit time (``Transition.at``, written by A's book; both nodes on one
   host clock) to its arrival at the watching client. Target: p99 under 100 ms.

Both nodes are real ``python -m node run`` processes (bench.bench_intents.NodeProcess) on a
scratch database; node A starts first and its book takes lease ``book``, node B's book
stands by (checked in the database: the lease's owner is A's instance, found by its pid in
the node registry). The load generator (bench._loadgen, grpc.aio, orders pre-signed before
any timing, its own process) runs the same closed loop against A, then against B, in
interleaved trials; the best of each is reported, and B's as a fraction of A's. A call
through B costs B's rate limit and metadata work, one more gRPC hop on loopback, then
everything A does; B forwards without verifying (the holder verifies), so the two nodes
share the host's cores during B's trials.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from ._pg import PgDatabase
from ._table import Row, percentile

CONCURRENCY = 64
TRIALS, WARMUP, WINDOW = 3, 0.5, 2.5
ORDERS = 40000   # one pre-signed set for both nodes (the load generator holds one)


def _holder_is(url: str, pid: int) -> bool:
    """The book's lease is held by the node process ``pid`` (node registry + lease table)."""
    from runtime.testing import postgres_admin
    conn = postgres_admin(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT l.owner FROM lease l JOIN node_instance n "
                        "ON n.instance = l.owner WHERE l.name = 'book' AND n.pid = %s "
                        "AND l.expires_at >= extract(epoch from now())", (pid,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def bench_forwarded(tmp: Path, url: str, pool) -> list[Row]:
    from ._loadgen import SUBMIT, closed_loop, prepare
    from .bench_intents import NodeProcess
    signing = pool.submit(prepare, "cluster", ORDERS, "cluster")
    a = NodeProcess(tmp / "a", url)
    b = None
    try:
        b = NodeProcess(tmp / "b", url)
        signing.result()
        if not _holder_is(url, a.proc.pid):
            raise RuntimeError("node A does not hold the book's lease; nothing to compare")
        for node in (a, b):   # warm-up: channels, caches
            pool.submit(closed_loop, node.target, SUBMIT, "cluster", CONCURRENCY, 0.5,
                        0.5).result()
        holder, edge = [], []
        for _ in range(TRIALS):
            holder.append(pool.submit(closed_loop, a.target, SUBMIT, "cluster", CONCURRENCY,
                                      WARMUP, WINDOW).result())
            edge.append(pool.submit(closed_loop, b.target, SUBMIT, "cluster", CONCURRENCY,
                                    WARMUP, WINDOW).result())
        still = _holder_is(url, a.proc.pid)
        load = os.getloadavg()[0]
    finally:
        if b is not None:
            b.stop()
        a.stop()
    errors = {k: v for r in [*holder, *edge] for k, v in r["errors"].items()}
    if errors:
        raise RuntimeError(f"cluster: calls failed: {errors}")
    if any(r["exhausted"] for r in [*holder, *edge]):
        raise RuntimeError(f"cluster: ran out of pre-signed orders ({ORDERS})")
    if not still:
        raise RuntimeError("cluster: the book's lease moved during the bench")
    best_h = max(holder, key=lambda r: r["rate"])
    best_e = max(edge, key=lambda r: r["rate"])

    def ms(r: dict, q: float) -> str:
        return f"{percentile(r['latencies'], q) * 1e3:.1f}"
    rates = ", ".join(f"{r['rate']:.0f}" for r in holder)
    erates = ", ".join(f"{r['rate']:.0f}" for r in edge)
    return [
        Row("SubmitIntent via the book's holder (PostgreSQL, 2 nodes)", best_h["rate"],
            "req/s", None, "", None,
            f"closed loop, {CONCURRENCY} in flight, best of {TRIALS} x {WINDOW:g} s (trials "
            f"{rates}); p50 {ms(best_h, 50)} ms, p99 {ms(best_h, 99)} ms"),
        Row("SubmitIntent via a node without the book (forwarded)", best_e["rate"], "req/s",
            best_h["rate"], "", None,
            f"same load through node B, which forwards to A; trials {erates}, interleaved "
            f"with A's; p50 {ms(best_e, 50)} ms, p99 {ms(best_e, 99)} ms; ceiling = the "
            f"holder's best; ratio {best_e['rate'] / best_h['rate']:.2f}; host load average "
            f"{load:.1f} on {os.cpu_count()} cores"),
    ]


FAILOVER_TRIALS, FAILOVER_TTL = 6, 2.0
FANOUT_COUNT, FANOUT_RATE = 200, 20.0


def _submitter(target: str):
    """A blocking SubmitIntent with a pre-serialised request; True when committed."""
    import grpc
    from ._loadgen import SUBMIT
    channel = grpc.insecure_channel(target)
    call = channel.unary_unary(SUBMIT)

    def submit(body: bytes) -> bool:
        try:
            call(body, timeout=1.0)
            return True
        except grpc.RpcError:
            return False
    return channel, submit


def bench_failover(tmp: Path, url: str) -> list[Row]:
    import time
    from ._loadgen import _take, prepare
    from .bench_intents import NodeProcess
    prepare("failover", 2000, "failover")
    orders = _take("failover")
    nodes = [NodeProcess(tmp / "f0", url, lease_ttl=FAILOVER_TTL)]
    took_over: list[float] = []
    first_action: list[float] = []
    try:
        nodes.append(NodeProcess(tmp / "f1", url, lease_ttl=FAILOVER_TTL))
        for trial in range(FAILOVER_TRIALS):
            holder = next((n for n in nodes if _holder_is(url, n.proc.pid)), None)
            if holder is None:
                raise RuntimeError("failover: no node holds the book")
            survivor = next(n for n in nodes if n is not holder)
            channel, submit = _submitter(survivor.target)
            try:
                while not submit(next(orders)[1]):   # both up: forwarded to the holder
                    time.sleep(0.05)
                holder.proc.kill()
                killed = time.monotonic()
                holder.proc.wait(10)
                moved = None
                while True:
                    if moved is None and _holder_is(url, survivor.proc.pid):
                        moved = time.monotonic() - killed
                    if submit(next(orders)[1]):
                        break
                    if time.monotonic() - killed > 60:
                        raise RuntimeError("failover: the survivor never took the book")
                    time.sleep(0.01)
                first_action.append(time.monotonic() - killed)
                took_over.append(moved if moved is not None else first_action[-1])
            finally:
                channel.close()
            nodes.remove(holder)
            nodes.append(NodeProcess(tmp / f"f{trial + 2}", url, lease_ttl=FAILOVER_TTL))
    finally:
        for n in nodes:
            n.stop()

    def q(xs: list[float], p: float) -> float:
        return percentile(xs, p)
    p50, p99 = q(first_action, 50), q(first_action, 99)
    return [
        Row(f"Failover: kill -9 -> first action by the new holder, p50 ({FAILOVER_TRIALS} "
            "kills)", p50, "s", FAILOVER_TTL, "< TTL + 1 s", p50 < FAILOVER_TTL + 1,
            f"node.lease_ttl {FAILOVER_TTL:g} s; first action = a SubmitIntent through the "
            f"survivor committed by its book; trials "
            f"{', '.join(f'{x:.2f}' for x in first_action)} s; lease row names the survivor "
            f"after {', '.join(f'{x:.2f}' for x in took_over)} s"),
        Row("Failover: kill -9 -> first action by the new holder, p99", p99, "s", FAILOVER_TTL,
            "< TTL + 1 s", p99 < FAILOVER_TTL + 1,
            "ceiling = the lease TTL: a standby may take the lease only once it expired "
            "(up to TTL after the dead holder's last renewal, renewed every TTL/3), then "
            "polls every min(TTL/3, 0.5 s)"),
    ]


def bench_fanout(tmp: Path, url: str) -> list[Row]:
    import threading
    import time
    import grpc
    from orbital.v1 import intents_pb2, intents_pb2_grpc
    from ._loadgen import _SETS, _take, prepare
    from .bench_intents import NodeProcess
    prepare("fanout", FANOUT_COUNT, "fanout", users=1)
    request = intents_pb2.SubmitIntentRequest.FromString(_SETS["fanout"][0][1])
    import json
    user = json.loads(request.typed_data)["message"]["user"]
    a = NodeProcess(tmp / "xa", url)
    b = None
    arrived: dict[str, float] = {}
    committed: dict[str, float] = {}
    try:
        b = NodeProcess(tmp / "xb", url)
        if not _holder_is(url, a.proc.pid):
            raise RuntimeError("fan-out: node A does not hold the book")
        with grpc.insecure_channel(b.target) as ch:
            stream = intents_pb2_grpc.IntentServiceStub(ch).WatchIntents(
                intents_pb2.WatchIntentsRequest(user=user))

            def read() -> None:
                try:
                    for u in stream:
                        if not u.snapshot and u.transition.version == 1:
                            arrived[u.intent.id] = time.time()
                            committed[u.intent.id] = u.transition.at.ToNanoseconds() / 1e9
                except grpc.RpcError:
                    pass
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            time.sleep(0.5)   # the stream is open before the first commit
            channel, submit = _submitter(a.target)
            try:
                start = time.monotonic()
                for i, (_, body) in enumerate(_take("fanout")):
                    due = start + i / FANOUT_RATE
                    time.sleep(max(0.0, due - time.monotonic()))
                    if not submit(body):
                        raise RuntimeError("fan-out: a submission failed")
            finally:
                channel.close()
            deadline = time.monotonic() + 10
            while len(arrived) < FANOUT_COUNT and time.monotonic() < deadline:
                time.sleep(0.05)
            stream.cancel()
    finally:
        if b is not None:
            b.stop()
        a.stop()
    if len(arrived) < FANOUT_COUNT:
        raise RuntimeError(f"fan-out: B's stream saw {len(arrived)} of {FANOUT_COUNT}")
    lat = [arrived[i] - committed[i] for i in arrived]
    p50, p99 = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
    return [Row("Transition fan-out across nodes (commit on A -> watch on B), p99", p99, "ms",
                None, "< 100 ms", p99 < 100,
                f"{FANOUT_COUNT} submissions at {FANOUT_RATE:g}/s to A; B follows A's "
                f"committed transitions, woken by each commit (LISTEN/NOTIFY); p50 {p50:.1f} ms, "
                f"max {max(lat) * 1e3:.1f} ms")]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="orbital-bench-cluster-") as d, \
            ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        rows: list[Row] = []
        with PgDatabase() as url:
            rows += bench_forwarded(Path(d), url, pool)
        with PgDatabase() as url:
            rows += bench_failover(Path(d), url)
        with PgDatabase() as url:
            rows += bench_fanout(Path(d), url)
        return rows
