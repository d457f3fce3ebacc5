"""The real ``orbital run`` process: SIGHUP reload, SIGTERM graceful stop, JSON logs, one
node per SQLite file (even after SIGKILL), and a thousand concurrent server streams without
a thread per stream."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devnet import free_ports
from tests._node import node_config, write_config

TOKEN = "process-test-token-abcdefghijkl"


def free_port() -> int:
    return free_ports(1)[0]


class Proc:
    """``orbital run`` in a subprocess; stderr lines collected and searchable."""

    def __init__(self, config: str, cwd: str, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "ORBITAL_TEST_TOKEN": TOKEN, **(env or {})}
        self.p = subprocess.Popen([sys.executable, "-m", "node", "run", "--config",
                                   config], cwd=cwd, env=env, stderr=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, text=True)
        self.lines: list[dict] = []
        self.raw: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stderr:
            with self.cond:
                self.raw.append(line)
                try:
                    self.lines.append(json.loads(line))
                except ValueError:
                    pass
                self.cond.notify_all()

    def wait_for(self, msg: str, count: int = 1, timeout: float = 30) -> dict:
        with self.cond:
            ok = self.cond.wait_for(
                lambda: sum(1 for e in self.lines if e.get("msg") == msg) >= count
                or self.p.poll() is not None, timeout)
            found = [e for e in self.lines if e.get("msg") == msg]
            assert ok and len(found) >= count, f"no {msg!r} in {self.raw[-10:]}"
            return found[count - 1]

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(30)


@pytest.fixture
def proc_config(tmp_path):
    """supervisor.yaml for a process: fixed free ports (the test connects before the node
    could report them), the admin token from the environment (never in the file), the
    shipped shutdown timeout."""
    grpc_port, metrics_port = free_port(), free_port()
    doc = node_config(f"sqlite:///{tmp_path}/var/orbital.db", tmp_path / "var",
                      token="${ORBITAL_TEST_TOKEN}", grpc_port=grpc_port,
                      metrics_listen=f"127.0.0.1:{metrics_port}", shutdown_timeout=10,
                      supervision={"chains": {"intensity": 3}})
    path = tmp_path / "supervisor.yaml"
    write_config(path, doc)
    return path, grpc_port, metrics_port


def metric(port: int, name: str) -> str:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    return "\n".join(x for x in body.decode().splitlines() if x.startswith(name))


def test_sighup_reload_and_sigterm(proc_config):
    path, grpc_port, metrics_port = proc_config
    proc = Proc(str(path), os.getcwd())
    try:
        proc.wait_for("node started")
        # a valid change is applied
        path.write_text(path.read_text().replace("intensity: 3", "intensity: 4"))
        proc.p.send_signal(signal.SIGHUP)
        proc.wait_for("config reloaded")
        assert 'result="applied"} 1.0' in metric(metrics_port, "orbital_config_reloads_total")
        # an invalid one is refused, the node keeps serving
        path.write_text(path.read_text().replace("intensity: 4", "intensity: lots"))
        proc.p.send_signal(signal.SIGHUP)
        refused = proc.wait_for("reload refused; the running tree is unchanged")
        assert "supervision.chains.intensity" in refused["reason"]
        assert 'result="refused"} 1.0' in metric(metrics_port, "orbital_config_reloads_total")
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as ch:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                         timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        code = proc.stop()
    assert code == 0
    proc.wait_for("node stopped")
    assert all(TOKEN not in line for line in proc.raw), "admin token leaked into logs"
    assert all(json.loads(line) for line in proc.raw if line.strip())  # JSON lines only


def test_invalid_config_exits_non_zero(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("node:\n  grpc_listen: nowhere\n")
    out = subprocess.run([sys.executable, "-m", "node", "run", "--config", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"{bad}:2: node.grpc_listen" in out.stderr


def test_a_node_killed_with_sigkill_leaves_no_lock_behind(proc_config):
    path, _, _ = proc_config
    """SQLite serves one node: a second ``orbital run`` on the file exits 2 naming the
    holder; the kernel drops the holder's lock when it is killed, so the next one starts."""
    env = {**os.environ, "ORBITAL_TEST_TOKEN": TOKEN}
    first = Proc(str(path), os.getcwd())
    try:
        started = first.wait_for("node started")
        out = subprocess.run([sys.executable, "-m", "node", "run", "--config", str(path)],
                             capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 2
        assert (f"in use by node {started['instance']} (pid {first.p.pid}); SQLite serves "
                "one node: use PostgreSQL for several") in out.stderr
    finally:
        first.p.kill()                               # SIGKILL: no shutdown, no cleanup
        first.p.wait(30)
    third = Proc(str(path), os.getcwd())
    try:
        assert third.wait_for("node started")["instance"] != started["instance"]
    finally:
        assert third.stop() == 0


def test_thousand_concurrent_streams_without_thread_per_stream(proc_config):
    path, grpc_port, _ = proc_config
    proc = Proc(str(path), os.getcwd())
    try:
        proc.wait_for("node started")
        threads_before = len(os.listdir(f"/proc/{proc.p.pid}/task"))

        async def hold(n: int):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as ch:
                stub = health_pb2_grpc.HealthStub(ch)
                calls = [stub.Watch(health_pb2.HealthCheckRequest()) for _ in range(n)]
                firsts = await asyncio.gather(*(c.read() for c in calls))
                threads_during = len(os.listdir(f"/proc/{proc.p.pid}/task"))
                for c in calls:
                    c.cancel()
                return firsts, threads_during
        firsts, threads_during = asyncio.run(hold(1000))
        assert len(firsts) == 1000
        assert all(f.status == health_pb2.HealthCheckResponse.SERVING for f in firsts)
        assert threads_during - threads_before < 50, (threads_before, threads_during)
    finally:
        assert proc.stop() == 0
