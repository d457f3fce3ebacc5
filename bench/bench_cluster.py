"""Two nodes on one PostgreSQL database: SubmitIntent through the node that holds the book,
beside the same call through a node that does not (it forwards to the holder).

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


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="orbital-bench-cluster-") as d, \
            ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool, \
            PgDatabase() as url:
        return bench_forwarded(Path(d), url, pool)
