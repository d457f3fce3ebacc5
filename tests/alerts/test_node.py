"""Alerts through a real node: messages in, AdminService/ListAlerts out (SQLite and
PostgreSQL), persistence across actor and node restarts, rules over real metrics."""

from __future__ import annotations

import json
import logging

import grpc
import pytest

from actors import ALERTS_PATH
from actors.alerts import RaiseAlert, raise_alert, resolve_alert
from runtime import JsonFormatter



def by_key(alerts) -> dict[tuple[str, str], object]:
    return {(a.name, a.source): a for a in alerts}


def test_raise_and_resolve_listed(node_at):
    h = node_at()
    reg = h.node.registry
    assert h.list() == []
    assert raise_alert(reg, RaiseAlert("funding_daily_cap_reached", "funding/gas-a",
                                       "daily cap of 5 ETH reached", "critical",
                                       {"chain": "devnet-a"}))
    assert raise_alert(reg, RaiseAlert("source_low", "funding/gas-b", "source low"))
    listed = h.list()
    assert [(a.name, a.severity, a.state) for a in listed] == [
        ("funding_daily_cap_reached", "critical", "firing"),   # critical first
        ("source_low", "warning", "firing")]
    cap = listed[0]
    assert cap.source == "funding/gas-a" and cap.message == "daily cap of 5 ETH reached"
    assert dict(cap.labels) == {"chain": "devnet-a"} and cap.count == 1
    assert cap.HasField("started_at") and not cap.HasField("resolved_at")
    assert cap.started_at.seconds == int(h.clock.wall())

    assert resolve_alert(reg, "funding_daily_cap_reached", "funding/gas-a")
    assert [a.name for a in h.list()] == ["source_low"]          # resolved are hidden
    everything = h.list(include_resolved=True)
    assert [(a.name, a.state) for a in everything] == [
        ("source_low", "firing"), ("funding_daily_cap_reached", "resolved")]
    assert everything[1].HasField("resolved_at")
    # resolving what does not fire is a no-op, not an error
    assert resolve_alert(reg, "never_raised", "x")
    assert len(h.list(include_resolved=True)) == 2


def test_raising_a_firing_alert_counts_up(node_at):
    h = node_at()
    for i in range(3):
        raise_alert(h.node.registry, RaiseAlert("move_stuck", "rebalance/usdc",
                                                f"stuck for {i} min", "warning"))
    [a] = h.list()
    assert a.count == 3 and a.message == "stuck for 2 min"   # latest text
    resolve_alert(h.node.registry, "move_stuck", "rebalance/usdc")
    raise_alert(h.node.registry, RaiseAlert("move_stuck", "rebalance/usdc", "again"))
    [a] = h.list(include_resolved=True)                         # one row per key
    assert (a.state, a.count, a.message) == ("firing", 1, "again")
    # same name, another source: another alert
    raise_alert(h.node.registry, RaiseAlert("move_stuck", "rebalance/weth", "stuck"))
    assert set(by_key(h.list())) == {("move_stuck", "rebalance/usdc"),
                                     ("move_stuck", "rebalance/weth")}


@pytest.mark.parametrize("metadata,detail", [
    ([], "missing"),
    ([("authorization", "Bearer wrong-token-wrong-token")], "invalid admin token"),
])
def test_list_alerts_requires_the_admin_token(node_at, metadata, detail):
    h = node_at()
    with pytest.raises(grpc.RpcError) as info:
        h.list(metadata=metadata)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert detail in info.value.details()


def test_survives_actor_crash_and_restart(node_at):
    h = node_at()
    reg = h.node.registry
    raise_alert(reg, RaiseAlert("a", "src", "first", "critical"))
    raise_alert(reg, RaiseAlert("a", "src", "second", "critical"))
    h.sync()
    reg.tell(ALERTS_PATH, "not a message it knows")    # a bug: the actor crashes
    h.rec.wait_for("restarted", ALERTS_PATH)
    h.rec.wait_for("started", ALERTS_PATH, count=2)
    [a] = h.list()
    assert (a.name, a.count, a.state) == ("a", 2, "firing")
    raise_alert(reg, RaiseAlert("a", "src", "third", "critical"))   # state rebuilt: counts on
    assert h.list()[0].count == 3
    h.node.restart_actor(ALERTS_PATH)
    h.rec.wait_for("started", ALERTS_PATH, count=3)
    resolve_alert(reg, "a", "src")
    [a] = h.list(include_resolved=True)
    assert (a.state, a.count) == ("resolved", 3)


def test_survives_node_restart(node_at):
    h = node_at()
    raise_alert(h.node.registry, RaiseAlert("a", "src", "m", "warning", {"k": "v"}))
    raise_alert(h.node.registry, RaiseAlert("b", "src", "m", "info"))
    resolve_alert(h.node.registry, "b", "src")
    before = h.list(include_resolved=True)
    assert h.node.metrics.registry.get_sample_value(
        "orbital_alerts_firing", {"severity": "warning"}) == 1
    h.close()

    h2 = node_at()
    assert h2.list(include_resolved=True) == before
    assert h2.node.metrics.registry.get_sample_value(
        "orbital_alerts_firing", {"severity": "warning"}) == 1
    raise_alert(h2.node.registry, RaiseAlert("a", "src", "m", "warning"))
    assert h2.list()[0].count == 2


def test_malformed_raise_is_refused_not_fatal(node_at, caplog):
    h = node_at()
    reg = h.node.registry
    raise_alert(reg, RaiseAlert("", "src", "no name"))
    raise_alert(reg, RaiseAlert("x", "src", "bad severity", "urgent"))
    raise_alert(reg, RaiseAlert("x" * 201, "src", "too long"))
    raise_alert(reg, RaiseAlert("ok", "src", "m" * 10_000))
    [a] = h.list()
    assert a.name == "ok" and len(a.message) == 4000
    assert not h.rec.of("restarted", ALERTS_PATH)


def test_every_transition_is_a_json_log_line(node_at, caplog):
    h = node_at()
    caplog.set_level(logging.INFO, logger="orbital.alerts")
    raise_alert(h.node.registry, RaiseAlert("n", "s", "it broke", "critical", {"x": "1"}))
    raise_alert(h.node.registry, RaiseAlert("n", "s", "it broke", "critical"))
    resolve_alert(h.node.registry, "n", "s")
    h.sync()
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records
             if r.name == "orbital.alerts" and r.levelno >= logging.INFO]
    assert [(x["msg"], x["state"], x["count"]) for x in lines] == [
        ("alert firing", "firing", 1), ("alert resolved", "resolved", 2)]
    assert lines[0]["logger"] == "orbital.alerts" and lines[0]["level"] == "error"
    assert (lines[0]["alert"], lines[0]["source"], lines[0]["severity"],
            lines[0]["text"], lines[0]["labels"]) == ("n", "s", "critical", "it broke",
                                                      {"x": "1"})


RESTART_RULE = """\
alerts:
  interval: 10s
  rules:
    echo-restarting:
      metric: orbital_actor_restarts_total
      labels: {actor: '=~chains/echo/.*'}
      aggregate: increase
      window: 60s
      by: [actor]
      op: '>='
      threshold: 3
      hold_for: 30s
      severity: critical
      message: 'actor {actor} restarted {value:g} times in {window}'
"""


def test_rule_over_restarts_fires_after_hold_and_resolves(node_at):
    h = node_at(RESTART_RULE, echoes=("a", "b"))
    h.tick(10)                                  # t=10: baseline evaluation
    h.crash("chains/echo/a", 3)
    h.crash("chains/echo/b", 1)                 # below the threshold: never pending
    h.tick(10)                                  # t=20: increase 3 -> pending
    assert h.list() == []
    h.tick(10, steps=2)                         # t=40: held 20s of 30s
    assert h.list() == []
    h.tick(10)                                  # t=50: held 30s -> firing
    [a] = h.list()
    assert (a.name, a.source, a.severity, a.state) == (
        "echo-restarting", 'echo-restarting{actor="chains/echo/a"}', "critical", "firing")
    assert a.message == "actor chains/echo/a restarted 3 times in 60s"
    assert dict(a.labels) == {"actor": "chains/echo/a", "value": "3"}
    h.rec.wait_for("alert_firing", ALERTS_PATH, name="echo-restarting")
    assert h.node.metrics.registry.get_sample_value(
        "orbital_alerts_firing", {"severity": "critical"}) == 1
    h.tick(10, steps=2)                         # t=70: the restarts still in the window
    assert len(h.list()) == 1
    h.tick(10)                                  # t=80: they left it -> resolved
    assert h.list() == []
    [a] = h.list(include_resolved=True)
    assert a.state == "resolved" and a.HasField("resolved_at")
    assert h.node.metrics.registry.get_sample_value(
        "orbital_alerts_firing", {"severity": "critical"}) == 0


def test_rule_pending_is_reset_when_the_condition_clears_early(node_at):
    h = node_at(RESTART_RULE.replace("window: 60s", "window: 20s"))
    h.tick(10)
    h.crash("chains/echo/a", 3)
    h.tick(10)                                  # t=20 pending
    h.tick(10, steps=2)                         # t=40: out of the 20s window: cleared
    h.tick(10, steps=3)
    assert h.list(include_resolved=True) == []
    assert not h.rec.of("alert_firing")


def test_firing_rule_alert_survives_actor_restart_and_resolves_after(node_at):
    h = node_at(RESTART_RULE.replace("hold_for: 30s", "hold_for: 0s"))
    h.tick(10)
    h.crash("chains/echo/a", 3)
    h.tick(10)                                  # t=20: firing at once
    assert [a.state for a in h.list()] == ["firing"]
    h.node.restart_actor(ALERTS_PATH)           # rule state restored from the store
    h.rec.wait_for("started", ALERTS_PATH, count=2)
    h.tick(10)                                  # baseline of the new instance: no data
    [a] = h.list(include_resolved=True)
    assert a.state == "resolved"                # the restarts are history to it
    assert "condition cleared" in _last_transition(h)


def _last_transition(h) -> str:
    from actors.alerts import AlertTransition
    with h.node.store.connection():
        return AlertTransition.select().order_by(AlertTransition.id.desc()).first().message


def test_rule_of_a_removed_rule_is_resolved_on_reload(node_at, tmp_path):
    h = node_at(RESTART_RULE.replace("hold_for: 30s", "hold_for: 0s"))
    h.tick(10)
    h.crash("chains/echo/a", 3)
    h.tick(10)
    assert len(h.list()) == 1
    text = (tmp_path / "supervisor.yaml").read_text()
    (tmp_path / "supervisor.yaml").write_text(text.split("alerts:")[0])
    result = h.node.reload()
    assert ALERTS_PATH in result.restarted
    [a] = h.list(include_resolved=True)
    assert a.state == "resolved"
    assert _last_transition(h) == "its rule is no longer configured"


def test_metric_rules_read_the_nodes_own_registry(node_at):
    """A gauge rule (max over series, no `by`) on the alerts' own gauge."""
    h = node_at("""\
alerts:
  interval: 5s
  rules:
    many-critical:
      metric: orbital_alerts_firing
      labels: {severity: critical}
      aggregate: max
      op: '>='
      threshold: 2
      severity: warning
""")
    for src in ("x", "y"):
        raise_alert(h.node.registry, RaiseAlert("c", src, "m", "critical"))
    h.tick(5)
    assert {a.name for a in h.list()} == {"c", "many-critical"}
    resolve_alert(h.node.registry, "c", "x")
    h.tick(5)
    assert {a.name for a in h.list()} == {"c"}
