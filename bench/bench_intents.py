"""Intents over gRPC: submission rate, offer fan-out, memory per solver session.

Every figure comes from a real node run as ``python -m node run --config ...`` (a
subprocess, so its CPU and RSS are its own), chains in the config pointing at ports where
nothing listens (submission, auctions and sessions need no chain). Clients are separate
processes: a grpc.aio load generator (bench._loadgen, orders pre-signed there before any
timing) and a grpc.aio solver fleet (bench._solvers, real challenge logins).

1. Sustained SubmitIntent rate, closed loop with CONCURRENCY calls in flight, each call:
   parse + validate + signature recovery + book commit (batched) + offer to 10 connected
   solvers (which read every offer). Ceiling: ``grpc.health.v1.Health/Check`` on the same
   node, same load generator, same concurrency, interleaved trials (best of each). Target
   >= 40 %. Then p99 latency of an open-loop submission schedule at half the median trial
   rate (latency from each call's scheduled send time), beside Health/Check at the same
   schedule. On SQLite and on PostgreSQL.
   Then SubmitIntents in batches of BATCH (BATCH_CONCURRENCY calls in flight), same node,
   same solvers: accepted intents/s beside the empty RPC's calls/s (the goal: more intents
   per second than empty RPCs per second).
2. Offer fan-out to 100 connected solvers: submissions paced at FANOUT_RATE/s; for every
   (intent, solver) pair, offer received (solver process, ``time.time()``) minus submit
   *start* (load generator, ``time.time()``). Ceiling: p99 of the same paced submissions
   on the same node once the solvers have left (the work minus the fan-out).
3. Auction round latency, submit to award: 10 solvers that bid on every offer, paced
   submissions; from each submit's start to its winner's receipt of the award. Ceiling:
   ``intents.auction_window``, the time bids are taken (the least an award can take).
4. VmRSS of the node with 1,000 connected solver sessions, beside the same node with 0.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from ._pg import PgDatabase
from ._table import Row, percentile

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 64
SOLVERS, FANOUT_SOLVERS, RSS_SESSIONS = 10, 100, 1000
TRIALS, WARMUP, WINDOW, HALF_WINDOW = 3, 0.5, 2.5, 3.0
FANOUT_RATE, FANOUT_COUNT, FANOUT_WARMUP = 10.0, 60, 10
ORDERS = int(os.environ.get("ORBITAL_BENCH_ORDERS", "40000"))
BATCH, BATCH_CONCURRENCY = 20, 16
AUCTION_WINDOW = 0.25
BATCH_ORDERS = int(os.environ.get("ORBITAL_BENCH_BATCH_ORDERS", "60000"))


# ---- the node, as a real `orbital run` process ----------------------------------------------
def _config(tmp: Path, port: int, database_url: str, admission: bool = False,
            chains: str = "", lease_ttl: float | None = None) -> Path:
    """``chains``: a live devnet's section (devnet.chains_yaml); by default chains at ports
    where nothing listens, and so admission (which reads the origin chain) off."""
    from devnet import free_ports, predicted_addresses
    addr = predicted_addresses()
    lines = ["node:", f"  grpc_listen: 127.0.0.1:{port}", "  metrics_listen: 127.0.0.1:0",
             f"  state_dir: {tmp / 'var'}", "  shutdown_timeout: 2",
             *([f"  lease_ttl: {lease_ttl}"] if lease_ttl is not None else []),
             "database:", f"  url: '{database_url}'",
             "supervision:",
             "  chains: {intensity: 100, period: 10, backoff: {initial: 1, max: 5}}",
             "  intents/solvers: {intensity: 10000, period: 60}",
             "intents:", "  min_open_window: 0", f"  auction_window: {AUCTION_WINDOW}",
             "  user_rate: {rate: 1000000, burst: 10000000}",
             # One load generator (one peer, few users) measures the node's ceiling: the
             # production limits on submissions, open intents and sessions would cap it.
             "  submit_peer_rate: {rate: 1000000, burst: 10000000}",
             "  submit_rate: {rate: 1000000, burst: 10000000}",
             "  max_open_per_user: 10000000",
             "  max_solver_sessions: 100000", "  max_solver_sessions_per_peer: 100000",
             "  retry_interval: 3600",          # one auction per intent during the bench
             "  heartbeat_interval: 600", "  heartbeat_timeout: 3600",
             "  stream_buffer: 100000",         # a briefly lagging solver is not dropped
             "admission:", f"  enabled: {'true' if admission else 'false'}"]
    if chains:
        path = tmp / "supervisor.yaml"
        path.write_text("\n".join(lines) + "\n" + chains)
        return path
    lines.append("chains:")
    for (name, cid), rpc in zip((("devnet-a", 31337), ("devnet-b", 31338)), free_ports(2)):
        lines += [f"  {name}:", "    kind: evm", f"    chain_id: {cid}",
                  f"    rpc: [http://127.0.0.1:{rpc}]",
                  f"    contracts: {{settler: '{addr['settler']}', bridge: '{addr['bridge']}'}}",
                  "    poll_interval: 5", "    rpc_timeout: 2", "    rpc_backoff_max: 5",
                  "    tokens:",
                  f"      USDC: {{address: '{addr['USDC']}', decimals: 6}}",
                  f"      WETH: {{address: '{addr['WETH']}', decimals: 18}}"]
    path = tmp / "supervisor.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class NodeProcess:
    """``python -m node run`` on a free port; started when SERVING, stopped by SIGTERM."""

    def __init__(self, tmp: Path, database_url: str, **config) -> None:
        from devnet import free_ports
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_ports(1)[0]
        self.target = f"127.0.0.1:{self.port}"
        self.log = tmp / "node.log"
        cfg = _config(tmp, self.port, database_url, **config)
        env = dict(os.environ, ORBITAL_LOG_LEVEL="INFO")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "node", "run", "--config", str(cfg)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_serving()
        except BaseException:
            self.stop()
            raise

    def _wait_serving(self, timeout: float = 60) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"node exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                            health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"node not SERVING within {timeout}s:\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a whole process (all threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self.start = {k: cpu_seconds(p) for k, p in pids.items()}
        self.t0 = time.perf_counter()

    def cores(self) -> str:
        dt = time.perf_counter() - self.t0
        return ", ".join(f"{k} {(cpu_seconds(p) - self.start[k]) / dt:.2f}"
                         for k, p in self.pids.items())


# ---- 1. sustained submission rate vs an empty RPC ------------------------------------------
def bench_submit(tmp: Path, label: str, url: str, pool, lg_pid: int) -> list[Row]:
    from ._loadgen import (HEALTH, SUBMIT, batch_loop, closed_loop, consumed, open_loop,
                           prepare)
    from ._solvers import Fleet
    signing = pool.submit(prepare, label, ORDERS, label)   # signs while the node starts
    node = NodeProcess(tmp / label, url)
    fleet = Fleet(node.target)
    try:
        fleet.call("connect", n=SOLVERS)
        n, sign_s = signing.result()
        t = node.target
        pool.submit(closed_loop, t, HEALTH, None, CONCURRENCY, 0.5, 0.5).result()
        pool.submit(closed_loop, t, SUBMIT, label, CONCURRENCY, 0.5, 0.5).result()  # warm-up
        empty, submit, cpu = [], [], []
        for _ in range(TRIALS):
            empty.append(pool.submit(closed_loop, t, HEALTH, None, CONCURRENCY,
                                     WARMUP, WINDOW).result())
            meter = CpuMeter(node=node.proc.pid, loadgen=lg_pid, solvers=fleet.pid)
            submit.append(pool.submit(closed_loop, t, SUBMIT, label, CONCURRENCY,
                                      WARMUP, WINDOW).result())
            cpu.append(meter.cores())
        best_e = max(empty, key=lambda r: r["rate"])
        best_s = max(submit, key=lambda r: r["rate"])
        sustained = statistics.median(r["rate"] for r in submit)
        half = pool.submit(open_loop, t, SUBMIT, label, sustained / 2, HALF_WINDOW).result()
        half_empty = pool.submit(open_loop, t, HEALTH, None, sustained / 2, 2.0).result()
        batch_set = label + "-batch"
        pool.submit(prepare, batch_set, BATCH_ORDERS, batch_set).result()
        batched = [pool.submit(batch_loop, t, batch_set, BATCH, BATCH_CONCURRENCY,
                               WARMUP, WINDOW).result() for _ in range(TRIALS)]
        time.sleep(0.5)
        status = fleet.call("status")
        submitted = pool.submit(consumed, label).result()
        load = os.getloadavg()[0]
    finally:
        fleet.close()
        node.stop()
    errors = {k: v for r in [*empty, *submit] for k, v in r["errors"].items()}
    errors.update(half["errors"])
    errors.update(half_empty["errors"])
    for r in batched:
        errors.update(r["errors"])
    if errors:
        raise RuntimeError(f"{label}: calls failed: {errors}")
    if any(r["exhausted"] for r in submit) or half["sent"] < int(sustained / 2 * HALF_WINDOW):
        raise RuntimeError(f"{label}: ran out of pre-signed orders ({ORDERS}); raise "
                           "ORBITAL_BENCH_ORDERS")
    if any(r["exhausted"] for r in batched):
        raise RuntimeError(f"{label}: ran out of pre-signed batch orders ({BATCH_ORDERS}); "
                           "raise ORBITAL_BENCH_BATCH_ORDERS")
    if status["sessions"] != SOLVERS:
        raise RuntimeError(f"{label}: solvers dropped during the bench: {status}")
    rate, ceiling = best_s["rate"], best_e["rate"]
    lat = half["latencies"]
    p50, p99 = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
    closed_p99 = percentile(best_s["latencies"], 99) * 1e3
    best_b = max(batched, key=lambda r: r["rate"])
    return [
        Row(f"SubmitIntent rate, {SOLVERS} solvers ({label})", rate, "req/s", ceiling,
            ">= 40 % of empty RPC", rate >= 0.4 * ceiling,
            f"closed loop, {CONCURRENCY} in flight, best of {TRIALS} x {WINDOW:g} s "
            f"(trials {_rates(submit)}; empty {_rates(empty)}); p99 at saturation "
            f"{closed_p99:.0f} ms; CPU cores during the submit trials: {' / '.join(cpu)}; "
            f"{submitted} intents accepted, {status['received']} messages read by the "
            f"{SOLVERS} solvers (offers); {n} orders pre-signed "
            f"in {sign_s:.1f} s; host load average {load:.1f} on {os.cpu_count()} cores"),
        Row(f"SubmitIntents, batches of {BATCH} ({label})", best_b["rate"], "intents/s", ceiling,
            "> empty RPC calls/s", best_b["rate"] > ceiling,
            f"closed loop, {BATCH_CONCURRENCY} calls in flight, best of {TRIALS} x {WINDOW:g} s "
            f"(trials {_rates(batched)} intents/s; {best_b['calls']} calls in the best); "
            f"same node and {SOLVERS} solvers as above; ceiling = the empty RPC's best req/s"),
        Row(f"SubmitIntent p99 at half rate ({label})", p99, "ms",
            percentile(half_empty["latencies"], 99) * 1e3, "", None,
            f"open loop at {half['offered_rate']:.0f} req/s (half the median trial rate) "
            f"for {HALF_WINDOW:g} s, "
            f"{len(lat)} calls, latency from scheduled send; p50 {p50:.1f} ms; ceiling = "
            f"Health/Check p99 at the same offered rate"),
    ]


def _rates(results: list[dict]) -> str:
    return ", ".join(f"{r['rate']:.0f}" for r in results)


# ---- 2. offer fan-out to 100 solvers --------------------------------------------------------
def bench_fanout(tmp: Path, pool) -> list[Row]:
    from ._loadgen import paced_submits, prepare
    from ._solvers import Fleet
    signing = pool.submit(prepare, "fanout", FANOUT_WARMUP + 2 * FANOUT_COUNT, "fanout")
    node = NodeProcess(tmp / "fanout", f"sqlite:///{tmp}/fanout.db")
    fleet = Fleet(node.target)
    try:
        signing.result()
        t = node.target
        fleet.call("connect", n=FANOUT_SOLVERS)
        pool.submit(paced_submits, t, "fanout", FANOUT_RATE, FANOUT_WARMUP).result()
        fleet.call("record", on=True)
        sent = pool.submit(paced_submits, t, "fanout", FANOUT_RATE, FANOUT_COUNT).result()
        time.sleep(1.0)
        offers = fleet.call("offers")
        status = fleet.call("status")
        fleet.close()                    # the same submissions with nobody to offer to
        time.sleep(0.5)
        alone = pool.submit(paced_submits, t, "fanout", FANOUT_RATE, FANOUT_COUNT).result()
    finally:
        fleet.close()
        node.stop()
    if sent["errors"] or alone["errors"]:
        raise RuntimeError(f"fan-out: submissions failed: {sent['errors'] or alone['errors']}")
    stamps = {oid: (t0, t1) for oid, t0, t1 in sent["stamps"]}
    from_start = [t - stamps[oid][0] for oid, t in offers if oid in stamps]
    from_reply = [t - stamps[oid][1] for oid, t in offers if oid in stamps]
    with_fanout = [t1 - t0 for _, t0, t1 in sent["stamps"]]
    no_solvers = [t1 - t0 for _, t0, t1 in alone["stamps"]]
    expected = len(stamps) * FANOUT_SOLVERS
    if len(from_start) != expected:
        per = Counter(oid for oid, _ in offers)
        short = {oid[:10]: per.get(oid, 0) for oid in stamps if per.get(oid, 0) != FANOUT_SOLVERS}
        print(f"fan-out: offers per intent short of {FANOUT_SOLVERS}: {short}", file=sys.stderr)
    p99 = percentile(from_start, 99) * 1e3
    ceiling = percentile(no_solvers, 99) * 1e3

    def ms(xs: list[float], q: float) -> str:
        return f"{percentile(xs, q) * 1e3:.1f}"
    return [Row(f"offer fan-out to {FANOUT_SOLVERS} solvers, p99", p99, "ms", ceiling,
                "< 50 ms", p99 < 50.0 and len(from_start) == expected,
                f"from submit start to each solver's receipt (time.time(), same host); "
                f"{len(from_start)}/{expected} offers, {len(stamps)} intents at "
                f"{FANOUT_RATE:g}/s; p50 {ms(from_start, 50)} ms; from the submit reply: p50 "
                f"{ms(from_reply, 50)} ms, p99 {ms(from_reply, 99)} ms; submit round trip "
                f"with the 100 solvers: p50 {ms(with_fanout, 50)} ms, p99 "
                f"{ms(with_fanout, 99)} ms; ceiling = submit round trip p99 on the same node "
                f"once the solvers left (p50 {ms(no_solvers, 50)} ms); "
                f"sessions left {status['sessions']}")]


# ---- 3. auction round latency: submit to award ------------------------------------------------
AWARD_RATE, AWARD_COUNT, AWARD_WARMUP = 20.0, 100, 10


def bench_award(tmp: Path, pool) -> list[Row]:
    from ._loadgen import paced_submits, prepare
    from ._solvers import Fleet
    signing = pool.submit(prepare, "award", AWARD_WARMUP + AWARD_COUNT, "award")
    node = NodeProcess(tmp / "award", f"sqlite:///{tmp}/award.db")
    fleet = Fleet(node.target)
    try:
        signing.result()
        t = node.target
        fleet.call("connect", n=SOLVERS)
        fleet.call("bidding", on=True)
        pool.submit(paced_submits, t, "award", AWARD_RATE, AWARD_WARMUP).result()
        time.sleep(AUCTION_WINDOW + 1.0)
        fleet.call("awards")                 # the warm-up's, dropped
        sent = pool.submit(paced_submits, t, "award", AWARD_RATE, AWARD_COUNT).result()
        time.sleep(AUCTION_WINDOW + 1.0)
        awards = fleet.call("awards")
    finally:
        fleet.close()
        node.stop()
    if sent["errors"]:
        raise RuntimeError(f"award: submissions failed: {sent['errors']}")
    starts = {oid: t0 for oid, t0, _ in sent["stamps"]}
    lat = [t - starts[oid] for oid, t in awards if oid in starts]
    window = AUCTION_WINDOW * 1e3
    p50, p99 = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
    note = (f"{len(lat)}/{len(starts)} intents awarded, {SOLVERS} solvers bidding the minimum "
            f"on every offer, submissions at {AWARD_RATE:g}/s; from submit start to the "
            f"winner's receipt of the award (time.time(), same host); ceiling = "
            f"intents.auction_window")
    return [Row("auction round latency, submit to award, p50", p50, "ms", window, "", None,
                note),
            Row("auction round latency, submit to award, p99", p99, "ms", window, "", None,
                f"p50 {p50:.1f} ms")]


# ---- 4. memory per solver session ------------------------------------------------------------
def bench_rss(tmp: Path) -> list[Row]:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from ._solvers import Fleet
    node = NodeProcess(tmp / "rss", f"sqlite:///{tmp}/rss.db")
    fleet = Fleet(node.target)
    try:
        fleet.call("connect", n=1)          # every code path loaded once, then let go
        fleet.call("close")
        fleet.process.join(10)
        with grpc.insecure_channel(node.target) as ch:
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        time.sleep(1.0)
        rss0, threads0 = node.status("VmRSS"), node.status("Threads")
        fleet = Fleet(node.target)
        began = time.perf_counter()
        connected = fleet.call("connect", n=RSS_SESSIONS)
        login_s = time.perf_counter() - began
        time.sleep(1.0)
        rss1, threads1 = node.status("VmRSS"), node.status("Threads")
        status = fleet.call("status")
    finally:
        fleet.close()
        node.stop()
    if status["sessions"] != RSS_SESSIONS:
        raise RuntimeError(f"rss: {status['sessions']} of {RSS_SESSIONS} sessions alive: {status}")
    per = (rss1 - rss0) / RSS_SESSIONS
    return [Row(f"node RSS, {RSS_SESSIONS:,} solver sessions", rss1 / 1024, "MiB", rss0 / 1024,
                "", None,
                f"ceiling column = the same node with 0 sessions; {per:.0f} KiB per session; "
                f"threads {threads0} -> {threads1}; {connected['connected']} logins "
                f"(challenge + EIP-191 + hello + welcome) in {login_s:.1f} s")]


def run() -> list[Row]:
    from ._loadgen import pid
    with tempfile.TemporaryDirectory(prefix="orbital-bench-intents-") as d, \
            ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        tmp = Path(d)
        lg_pid = pool.submit(pid).result()
        rows = bench_submit(tmp, "SQLite", f"sqlite:///{tmp}/submit.db", pool, lg_pid)
        with PgDatabase() as url:
            rows += bench_submit(tmp, "PostgreSQL", url, pool, lg_pid)
        rows += bench_fanout(tmp, pool)
        rows += bench_award(tmp, pool)
        rows += bench_rss(tmp)
    return rows
