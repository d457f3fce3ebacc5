"""``orbital alerts export``: every rule kind's PromQL (a table, pure and fast), the message
as an annotation template, what cannot be exported and why, Debian's real ``promtool check
rules`` on the output, the committed ``ops/prometheus/orbital.rules.yml`` equal to a fresh
export of the default supervisor.yaml; and ``orbital alerts list`` against a real node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from actors.alerts import (AlertsConfig, RaiseAlert, prometheus_duration,
                           prometheus_rule_file, promql_expr, raise_alert, to_prometheus)
from node.cli import main as orbital
from runtime.config import load_text

from .conftest import TOKEN, make_app

ROOT = Path(__file__).resolve().parents[2]


def alerts_of(rules_yaml: str, interval: str = "15s") -> AlertsConfig:
    text = f"alerts:\n  interval: {interval}\n  rules:\n" + "".join(
        f"    {line}\n" for line in rules_yaml.strip().splitlines())
    return load_text(text, "t.yaml", make_app(), env={}).section("alerts", AlertsConfig)


def rule(body: str):
    text = "r:\n" + "".join(f"  {line}\n" for line in body.strip().splitlines())
    return alerts_of(text).rules["r"]


@pytest.mark.parametrize("body, expr", [
    ("metric: m", "sum (m) > 0"),
    ("metric: m\naggregate: max\nby: [actor]\nop: '>='\nthreshold: 3",
     "max by (actor) (m) >= 3"),
    ("metric: m\naggregate: min\nop: '<'\nthreshold: 0.5", "min (m) < 0.5"),
    ("metric: m\naggregate: count\nby: [a, b]\nop: '=='\nthreshold: 2",
     "count by (a, b) (m) == 2"),
    ("metric: m_total\naggregate: rate\nwindow: 90s\nop: '<='\nthreshold: 0.001",
     "sum (rate(m_total[1m30s])) <= 0.001"),
    ("metric: m_total\naggregate: increase\nwindow: 1h30m\nby: [method]\nop: '!='\n"
     "threshold: -2", "sum by (method) (increase(m_total[1h30m])) != -2"),
    ("metric: m_total\nlabels: {code: INTERNAL, method: '!=/x.Y/Z', chain: '=~dev.*',"
     " token: '!~W(ETH|BTC)'}\naggregate: increase\nwindow: 5m",
     'sum (increase(m_total{chain=~"dev.*", code="INTERNAL", method!="/x.Y/Z", '
     'token!~"W(ETH|BTC)"}[5m])) > 0'),
    ("metric: m\nlabels: {path: 'a\"b\\c'}", 'sum (m{path="a\\"b\\\\c"}) > 0'),
    ("metric: m\nthreshold: 1234567.25", "sum (m) > 1234567.25"),
    ("metric: m_seconds_count\naggregate: rate\nwindow: 250ms",
     "sum (rate(m_seconds_count[250ms])) > 0"),
])
def test_every_rule_kind_translates_to_promql(body, expr):
    assert promql_expr(rule(body)) == expr


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (0.25, "250ms"), (1, "1s"), (90, "1m30s"), (300, "5m"), (5400, "1h30m"),
    (86400, "1d"), (90061.5, "1d1h1m1s500ms"), (2.5, "2s500ms")])
def test_prometheus_durations(seconds, text):
    assert prometheus_duration(seconds) == text


def test_rule_fields_and_message_template():
    r = to_prometheus("lag", rule(
        "metric: orbital_chain_lag_blocks\naggregate: max\nby: [chain]\nop: '>'\n"
        "threshold: 50\nhold_for: 2m\nseverity: critical\n"
        "message: '{rule} {chain} at {value:.1f} ({op} {threshold:g}, {hold_for}) "
        "[{labels}] {{{{x}}}} {value}'"))
    assert r.rule is not None and r.reason == ""
    assert r.rule["alert"] == "lag" and r.rule["for"] == "2m"
    assert r.rule["labels"] == {"severity": "critical"}
    assert r.rule["annotations"]["summary"] == (
        'lag {{ $labels.chain }} at {{ printf "%.1f" $value }} (> 50, 2m) '
        '[chain={{ $labels.chain }}] {{ "{{" }}x}} {{ $value }}')
    assert "max of orbital_chain_lag_blocks by chain > 50, held for 2m" in \
        r.rule["annotations"]["description"]
    # no hold: no `for` (Prometheus' default is 0); rate rules say how they differ
    r = to_prometheus("r", rule("metric: m_total\naggregate: rate"))
    assert r.rule is not None and "for" not in r.rule
    assert "extrapolates" in r.rule["annotations"]["description"]


@pytest.mark.parametrize("body, why", [
    ("metric: m\nenabled: false", "disabled"),
    ("metric: m\nlabels: {a: '=~x(?=y)'}", "lookahead"),
    ("metric: m\nlabels: {a: '!~(?<!x)y'}", "negative lookbehind"),
    ("metric: m\nlabels: {a: '=~(a)\\1'}", "backreference"),
])
def test_rules_that_cannot_be_exported_say_why(body, why):
    r = to_prometheus("r", rule(body))
    assert r.rule is None and why in r.reason
    text = prometheus_rule_file(alerts_of("r:\n" + "".join(
        f"  {line}\n" for line in body.splitlines()) + "ok:\n  metric: m"))
    assert "#   r: " in text and why in text                       # said, not dropped
    doc = yaml.safe_load(text)
    assert [x["alert"] for x in doc["groups"][0]["rules"]] == ["ok"]


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not installed (Debian package prometheus; make test installs it)"
    return path


def test_promtool_accepts_every_kind(tmp_path):
    """Real promtool: every kind, matchers, escapes and templates parse."""
    cfg = alerts_of("""
sums:
  metric: orbital_actor_mailbox_depth
  aggregate: sum
  by: [actor]
  message: '{rule}: {actor} {value:g} [{labels}] {{literal}} {threshold:.2f}'
maxes: {metric: orbital_chain_lag_blocks, aggregate: max, by: [chain], hold_for: 2m30s}
mins: {metric: orbital_funding_balance_tokens, aggregate: min, op: '<', threshold: 1.5}
counts: {metric: orbital_solver_sessions, aggregate: count, op: '==', threshold: 0}
rates: {metric: orbital_grpc_requests_total, aggregate: rate, window: 250ms, labels: {code: '!=OK'}}
increases:
  metric: orbital_grpc_requests_total
  aggregate: increase
  labels: {method: '=~/orbital[.]v1[.].*', code: '!~OK|NOT_FOUND', x: 'a"b\\\\c',
           y: '=~a{{1}}b'}
  by: [method]
  severity: critical
lookahead: {metric: m, labels: {a: '=~(?!x)'}}
""", interval="2.5s")
    path = tmp_path / "rules.yml"
    path.write_text(prometheus_rule_file(cfg))
    out = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 6 rules found" in out.stdout
    group = yaml.safe_load(path.read_text())["groups"][0]
    assert group["interval"] == "2s500ms"
    increases = next(r for r in group["rules"] if r["alert"] == "increases")
    # "{{" in a label's regex is literal text of the description template, not an action
    assert 'y=~"a{{ "{{" }}1}}b"' in increases["annotations"]["description"]


def test_committed_rule_file_is_a_fresh_export_of_supervisor_yaml(tmp_path, capsys):
    out = tmp_path / "orbital.rules.yml"
    assert orbital(["alerts", "export", "--config", str(ROOT / "supervisor.yaml"),
                    "-o", str(out)]) == 0
    committed = ROOT / "ops" / "prometheus" / "orbital.rules.yml"
    assert committed.read_text() == out.read_text(), \
        "stale: run `orbital alerts export --config supervisor.yaml " \
        "-o ops/prometheus/orbital.rules.yml`"
    names = [r["alert"] for r in yaml.safe_load(out.read_text())["groups"][0]["rules"]]
    assert names == ["actor-restarting", "supervisor-escalated", "grpc-internal-errors",
                     "mailbox-backlog", "chain-lagging"]
    check = subprocess.run([_promtool(), "check", "rules", str(committed)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    # to standard output as well
    capsys.readouterr()
    assert orbital(["alerts", "export", "--config", str(ROOT / "supervisor.yaml")]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_export_refuses_an_invalid_config_with_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("alerts:\n  rules:\n    r:\n      metric: m\n      aggregate: median\n")
    out = tmp_path / "out.yml"
    assert orbital(["alerts", "export", "--config", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:5" in err and "aggregate" in err
    assert not out.exists()
    # a place that cannot be written: said, exit 1
    assert orbital(["alerts", "export", "--config", str(ROOT / "supervisor.yaml"),
                    "-o", str(tmp_path / "no" / "such" / "dir.yml")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_alerts_list_against_a_running_node(node_at, monkeypatch, capsys):
    h = node_at()
    assert raise_alert(h.node.registry, RaiseAlert("funding_low", "funding/gas-a",
                                                   "gas-a below 1 ETH", "critical"))
    h.sync()
    monkeypatch.setenv("ORBITAL_ADMIN_TOKEN", TOKEN)
    address = ["--address", f"127.0.0.1:{h.node.grpc_port}"]
    capsys.readouterr()
    assert orbital(["alerts", "list", *address]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["STATE", "SEVERITY", "NAME", "SOURCE", "COUNT", "SINCE",
                                "MESSAGE"]
    assert lines[1].split()[:5] == ["firing", "critical", "funding_low", "funding/gas-a", "1"]
    assert lines[1].endswith("gas-a below 1 ETH") and lines[-1] == "1 firing, 1 listed"
    assert orbital(["alerts", "list", "--json", *address]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert [(a["name"], a["state"]) for a in reply["alerts"]] == [("funding_low", "firing")]
    monkeypatch.setenv("ORBITAL_ADMIN_TOKEN", "wrong-token-0123456789")
    assert orbital(["alerts", "list", *address]) == 1
    assert capsys.readouterr().err.startswith("UNAUTHENTICATED")
