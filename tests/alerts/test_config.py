"""The alerts section is validated once, at load: a bad rule is refused with file:line,
by a starting node and by a reload (which leaves the running tree untouched)."""

from __future__ import annotations

import pytest

from actors.alerts import AlertsConfig, parse_duration
from actors import ALERTS_PATH
from runtime import ConfigError
from runtime.config import build, load_text, parse_yaml
from runtime.node import Node

from .conftest import make_app, write_config

RULE = """\
alerts:
  rules:
    r1:
      metric: orbital_actor_restarts_total
      aggregate: increase
      window: 5m
      op: '>'
      threshold: 3
      hold_for: 1m
"""


def load(text: str):
    return load_text(text, "alerts.yaml", make_app(), env={}).section("alerts", AlertsConfig)


def test_valid_rule_is_typed():
    r = load(RULE).rules["r1"]
    assert (r.metric, r.aggregate, r.op, r.threshold) == (
        "orbital_actor_restarts_total", "increase", ">", 3.0)
    assert (r.window_s, r.hold_s, r.severity) == (300.0, 60.0, "warning")
    assert load("").interval_s == 15.0        # no section: no rules, defaults


@pytest.mark.parametrize("line,bad,where,reason", [
    (7, "      op: '=>'", "alerts.rules.r1.op", "expected one of >, >=, <, <=, ==, !="),
    (9, "      hold_for: 1 minute", "alerts.rules.r1.hold_for", "invalid duration"),
    (5, "      aggregate: avg", "alerts.rules.r1.aggregate", "expected one of sum"),
    (6, "      window: 5mins", "alerts.rules.r1.window", "invalid duration"),
    (8, "      threshold: lots", "alerts.rules.r1.threshold", "expected a number"),
    (4, "      metric: 'not a metric'", "alerts.rules.r1.metric", "expected a value matching"),
])
def test_invalid_rule_refused_with_file_and_line(line, bad, where, reason):
    lines = RULE.splitlines()
    lines[line - 1] = bad
    with pytest.raises(ConfigError) as info:
        load("\n".join(lines) + "\n")
    text = str(info.value)
    assert text.startswith(f"alerts.yaml:{line}: {where}:"), text
    assert reason in text


@pytest.mark.parametrize("extra,reason", [
    ("      labels: {actor: '=~(unclosed'}", "invalid regex"),
    ("      message: 'restarts of {actor}'", "unknown placeholder {actor}"),
    ("      message: '{value:q}'", "cannot render"),
    ("      by: ['bad label']", "is not a label name"),
])
def test_rule_checks_refused_at_the_rules_first_line(extra, reason):
    with pytest.raises(ConfigError) as info:
        load(RULE + extra + "\n")
    assert str(info.value).startswith("alerts.yaml:4: alerts.rules.r1:"), str(info.value)
    assert reason in str(info.value)


def test_unknown_key_and_webhook_severity_refused():
    with pytest.raises(ConfigError, match=r"alerts.yaml:5: alerts.rules.r1.for: unknown key"):
        load("alerts:\n  rules:\n    r1:\n      metric: m\n      for: 5m\n")
    with pytest.raises(ConfigError, match=r"alerts.yaml:3: alerts.webhooks.urgent: name must"):
        load("alerts:\n  webhooks:\n    urgent: {url: 'http://127.0.0.1:1/x'}\n")
    with pytest.raises(ConfigError, match=r"alerts.yaml:3: alerts.webhooks.critical.url"):
        load("alerts:\n  webhooks:\n    critical: {url: 'ftp://x'}\n")


def test_missing_metric_is_not_a_load_error():
    cfg = load("alerts:\n  rules:\n    later: {metric: orbital_funding_balance, op: '<', "
               "threshold: 1}\n")
    assert "later" in cfg.rules


@pytest.mark.parametrize("text,seconds", [("30", 30), ("2.5", 2.5), ("90s", 90), ("5m", 300),
                                          ("1h30m", 5400), ("250ms", 0.25), ("1d", 86400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "1h 30m", "-1s", "inf", "nan"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def _line_of(path: str, needle: str) -> int:
    with open(path) as fh:
        return next(i for i, text in enumerate(fh, 1) if needle in text)


def test_node_refuses_to_start_and_reload_keeps_tree(tmp_path, database_url):
    path = write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                        RULE.replace("op: '>'", "op: '=>'"))
    line = _line_of(path, "op: '=>'")
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: alerts.rules.r1.op"):
        Node(path, make_app())
    write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var", RULE)
    node = Node(path, make_app()).start()
    try:
        before = {a.path: a.started_at for a in node.describe()}
        write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                     RULE.replace("hold_for: 1m", "hold_for: soon"))
        line = _line_of(path, "hold_for: soon")
        with pytest.raises(ConfigError, match=rf"^{path}:{line}: alerts.rules.r1.hold_for"):
            node.reload()
        after = {a.path: a.started_at for a in node.describe()}
        assert after == before and ALERTS_PATH in after
    finally:
        node.shutdown()


def test_default_rules_in_supervisor_yaml_are_valid():
    """Only the alerts section (other sections belong to kinds maybe not installed yet)."""
    with open("supervisor.yaml") as fh:
        root = parse_yaml(fh.read(), "supervisor.yaml", {})
    cfg = build(AlertsConfig, root.value["alerts"], "supervisor.yaml", "alerts")
    assert {"actor-restarting", "supervisor-escalated", "grpc-internal-errors",
            "mailbox-backlog"} <= set(cfg.rules)
