"""The ready-made ops files against the real tools: a real ``prometheus`` server (Debian
package, loopback, temp storage, 1 s scrape and evaluation) scrapes a running node on the
devnet with the rules ``orbital alerts export`` wrote from that node's own config; its HTTP
API shows the target up, a node metric, every rule loaded and healthy, and a rule firing
once its condition is made true. Every expression of ``ops/grafana/orbital.json`` names
only metrics the node's real ``/metrics`` page declares, and runs in that Prometheus
without error; ``promtool check metrics`` accepts the page of a node with every business
metric (a funding account included).

SQLite only: what is checked here is the exposition and PromQL, not the store (the
business metrics are checked on both databases in test_metrics.py). promtool and
prometheus are required (``make test`` and ``.ci/run`` install them): without them these
tests fail, never skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from clients import OrbitalClient, OrbitalRpcError
from devnet import free_ports
from node import build_app
from node.cli import main as orbital
from orbital.v1 import admin_pb2, admin_pb2_grpc
from tests._node import ADMIN, TestNodes, write_config

from .conftest import node_config, wait_until

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "orbital.json"
# Grafana's variables, as a dashboard run would expand them
_GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s",
                 "$job": ".+"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not installed (Debian package prometheus; make test installs it)"
    return path


class Prometheus:
    """A real Prometheus server on loopback, scraping ``targets`` every second and
    evaluating ``rule_file`` every second; storage in ``workdir``."""

    def __init__(self, workdir: Path, targets: list[str], rule_file: Path) -> None:
        self.port = free_ports(1)[0]
        config = workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "scrape_timeout": "1s"},
            "rule_files": [str(rule_file)],
            "scrape_configs": [{"job_name": "orbital",
                                "static_configs": [{"targets": targets}]}]}))
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(
            [_tool("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout=30, what="prometheus ready", interval=0.2)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, self.logs()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2):
                return True
        except OSError:
            return False

    def logs(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                body = json.load(reply)
        except urllib.error.HTTPError as exc:   # 400/422: a bad or failing expression
            body = json.load(exc)
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _ops_config(tmp_path: Path, devnet_info: Any) -> str:
    """The e2e node's config plus the default alert rules of supervisor.yaml, a rule the
    test can trigger (INVALID_ARGUMENT answers) and one true from the start (no solver
    session, held 2 s), every second; and one funding account
    (an anvil account with plenty of ETH: read, never topped up) so the funding gauges
    are on the page."""
    path = node_config(tmp_path / "supervisor.yaml", devnet_info,
                       f"sqlite:///{tmp_path}/orbital.db", tmp_path / "var")
    doc = yaml.safe_load(Path(path).read_text())
    defaults = yaml.safe_load((ROOT / "supervisor.yaml").read_text())["alerts"]["rules"]
    doc["alerts"] = {"interval": "1s", "rules": defaults | {"bad-requests": {
        "metric": "orbital_grpc_requests_total", "labels": {"code": "INVALID_ARGUMENT"},
        "aggregate": "increase", "window": "1m", "by": ["method"], "op": ">",
        "threshold": 0, "severity": "info",
        "message": "{method} refused {value:g} requests as INVALID_ARGUMENT in {window}"},
        "no-solver": {   # true from the start (no solver here): a gauge, `<`, and a hold
            "metric": "orbital_solver_sessions", "aggregate": "max", "op": "<",
            "threshold": 1, "hold_for": "2s", "severity": "warning",
            "message": "{value:g} solver sessions for {hold_for}"}}}
    doc["funding"] = {"accounts": {"operator-gas": {
        "chain": "devnet-a", "address": devnet_info.account("operator").address,
        "asset": "native", "min_balance": "1", "target_balance": "5",
        "max_per_top_up": "5", "daily_cap": "20", "cooldown": 60, "poll_interval": 1,
        "source": {"key": "${ORBITAL_TREASURY_KEY}"}}}}
    return write_config(path, doc)


@pytest.fixture
def scraped(tmp_path, devnet_info, monkeypatch) -> Iterator[tuple[Any, Prometheus, Path]]:
    """(node, prometheus, rule file): a node on the devnet, its rules exported by the CLI
    from its own config file, and a Prometheus scraping it with those rules."""
    monkeypatch.setenv("ORBITAL_ATTESTER_KEY", devnet_info.account("attester").private_key)
    monkeypatch.setenv("ORBITAL_TREASURY_KEY", devnet_info.account("treasury").private_key)
    cfg = _ops_config(tmp_path, devnet_info)
    rules = tmp_path / "orbital.rules.yml"
    assert orbital(["alerts", "export", "--config", cfg, "-o", str(rules)]) == 0
    with TestNodes(tmp_path) as nodes:
        node = nodes.start(cfg, build_app, env=dict(os.environ))
        workdir = tmp_path / "prometheus"
        workdir.mkdir()
        prom = Prometheus(workdir, [f"127.0.0.1:{node.metrics_port}"], rules)
        try:
            yield node, prom, rules
        finally:
            prom.stop()


def _page(node: Any) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics",
                                timeout=10) as reply:
        return reply.read().decode()


def _declared_samples(page: str) -> set[str]:
    """Every sample name the page declares (``# TYPE`` lines: a family with no series yet
    is declared too), with a histogram's ``_bucket``/``_sum``/``_count``."""
    names: set[str] = set()
    for line in page.splitlines():
        m = re.fullmatch(r"# TYPE (\S+) (\S+)", line)
        if m:
            name, kind = m.groups()
            names.add(name)
            if kind in ("histogram", "summary"):
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def _dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expression with Grafana's variables expanded) of every target."""
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict]) -> None:
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                expr = t["expr"]
                for var, value in _GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                assert "$" not in expr, (p["title"], expr)
                out.append((p["title"], expr))
    walk(json.loads(DASHBOARD.read_text())["panels"])
    return out


def test_dashboard_names_only_exported_metrics_and_runs_in_prometheus(scraped, tmp_path):
    node, prom, _ = scraped
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"

    def datasources(x: Any) -> Iterator[Any]:
        if isinstance(x, dict):
            if "datasource" in x:
                yield x["datasource"]
            for v in x.values():
                yield from datasources(v)
        elif isinstance(x, list):
            for v in x:
                yield from datasources(v)
    assert all(d == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
               for d in datasources(dashboard["panels"]))
    titles = {p["title"] for p in dashboard["panels"]}
    for wanted in ("Intents by status", "Submissions by code", "Refusals by code",
                   "Input volume by chain and token (per hour)",
                   "Fill volume by chain and token (per hour)", "Time to fill",
                   "Time to settle", "Bids per auction round", "Solver sessions",
                   "Attester backlog", "Funding balances against thresholds", "Chain lag",
                   "gRPC errors by method and code"):
        assert wanted in titles, wanted

    # the funding account's first round has set its gauges
    wait_until(lambda: "orbital_funding_balance_tokens{" in _page(node), timeout=30,
               what="the funding account's first round")
    page = _page(node)
    exported = _declared_samples(page)
    exprs = _dashboard_exprs()
    assert len(exprs) >= 30
    for title, expr in exprs:
        named = set(re.findall(r"\b(orbital_[a-zA-Z0-9_:]+)", expr))
        assert named, (title, expr)
        assert named <= exported, (title, sorted(named - exported))
    # each expression parses (promtool, as a recording rule) ...
    check = tmp_path / "dashboard.rules.yml"
    check.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": e} for i, (_, e) in enumerate(exprs)]}]}))
    out = subprocess.run([_tool("promtool"), "check", "rules", str(check)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    # ... and runs in the real Prometheus over the scraped node
    wait_until(lambda: prom.api("query", query="orbital_node_serving")["result"],
               timeout=30)
    for _, expr in exprs:
        prom.api("query", query=expr)   # asserts status success (a bad one is 400/422)
    by_status = prom.api("query", query=exprs[[t for t, _ in exprs].index(
        "Intents by status")][1])["result"]
    assert {r["metric"]["status"] for r in by_status} >= {"PENDING", "SETTLED", "EXPIRED"}
    funding = prom.api("query", query='max by (account) (orbital_funding_min_balance_tokens)')
    assert [(r["metric"]["account"], r["value"][1]) for r in funding["result"]] == \
        [("operator-gas", "1")]

    # promtool check metrics accepts the page with every business metric on it
    out = subprocess.run([_tool("promtool"), "check", "metrics"], input=page,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


def test_prometheus_scrapes_the_node_and_evaluates_the_exported_rules(scraped):
    node, prom, rules = scraped
    exported = [r["alert"] for r in yaml.safe_load(rules.read_text())["groups"][0]["rules"]]
    assert exported == ["actor-restarting", "supervisor-escalated", "grpc-internal-errors",
                        "mailbox-backlog", "chain-lagging", "bad-requests", "no-solver"]
    target = f"127.0.0.1:{node.metrics_port}"

    def up() -> bool:
        active = prom.api("targets")["activeTargets"]
        return [(t["scrapeUrl"], t["health"]) for t in active] == \
            [(f"http://{target}/metrics", "up")]
    wait_until(up, timeout=30)
    serving = prom.api("query", query="orbital_node_serving")["result"]
    assert [(r["metric"]["job"], r["metric"]["instance"], r["value"][1])
            for r in serving] == [("orbital", target, "1")]

    def rules_ok() -> list[dict] | None:
        groups = prom.api("rules")["groups"]
        loaded = [r for g in groups for r in g["rules"]]
        return loaded if loaded and all(r["health"] == "ok" for r in loaded) else None
    loaded = wait_until(rules_ok, timeout=30)
    assert [r["name"] for r in loaded] == exported
    assert all(r["type"] == "alerting" for r in loaded)
    # nothing wrong on a fresh node, but no solver: that one is pending (for: 2s), then fires
    def states() -> dict[str, str]:
        return {r["name"]: r["state"] for g in prom.api("rules")["groups"] for r in g["rules"]}
    wait_until(lambda: states()["no-solver"] != "inactive", timeout=30, interval=0.5)
    assert [name for name, state in states().items() if state != "inactive"] == ["no-solver"]

    def alert(name: str) -> dict | None:
        return next((a for a in prom.api("alerts")["alerts"]
                     if a["labels"]["alertname"] == name and a["state"] == "firing"), None)
    lonely = wait_until(lambda: alert("no-solver"), timeout=30, interval=0.5)
    assert lonely["labels"] == {"alertname": "no-solver", "severity": "warning"}
    assert lonely["annotations"]["summary"] == "0 solver sessions for 2s"

    # make bad-requests true: INVALID_ARGUMENT answers, while Prometheus and the node watch
    method = "IntentService/GetIntent"

    def refused() -> None:
        with pytest.raises(OrbitalRpcError) as err:
            client.get("0x1234")
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT

    def firing() -> dict | None:
        refused()
        return alert("bad-requests")
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        bad = wait_until(firing, timeout=60, interval=0.5)
    assert bad["labels"] == {"alertname": "bad-requests", "method": method,
                               "severity": "info"}
    summary = bad["annotations"]["summary"]
    assert re.fullmatch(rf"{re.escape(method)} refused \d+(\.\d+)?(e[+-]\d+)? requests as "
                        r"INVALID_ARGUMENT in 1m", summary), summary
    # the node's own rule (the same config) fires too: the in-process alerts still work
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)

        def listed() -> bool:
            reply = stub.ListAlerts(admin_pb2.ListAlertsRequest(), metadata=ADMIN, timeout=10)
            sources = {(a.name, a.source) for a in reply.alerts if a.state == "firing"}
            return {("bad-requests", f'bad-requests{{method="{method}"}}'),
                    ("no-solver", "no-solver")} <= sources
        wait_until(listed, timeout=30)
