"""Rule evaluation with plain samples and times: pending -> firing -> resolved."""

from __future__ import annotations

from actors.alerts import AlertsConfig

from actors.alerts import RuleState, evaluate, source_of
from runtime.config import load_text

from .conftest import make_app


def rule(body: str):
    text = "alerts:\n  rules:\n    r:\n" + "".join(f"      {line}\n" for line in
                                                 body.strip().splitlines())
    return load_text(text, "t.yaml", make_app(), env={}).section("alerts", AlertsConfig).rules["r"]


def states(changes):
    return [(c.state, c.group, c.value) for c in changes]


def test_gauge_sum_with_hold_for():
    cfg = rule("metric: depth\nop: '>'\nthreshold: 10\nhold_for: 30s")
    st = RuleState()
    hi = [("depth", {"actor": "a"}, 8.0), ("depth", {"actor": "b"}, 5.0)]   # sum 13
    assert evaluate(cfg, st, hi, 0) == []                 # pending
    assert st.pending() == [()]
    assert evaluate(cfg, st, hi, 29) == []
    assert states(evaluate(cfg, st, hi, 30)) == [("firing", (), 13.0)]
    assert evaluate(cfg, st, hi, 40) == []                # fires once
    lo = [("depth", {"actor": "a"}, 1.0)]
    assert states(evaluate(cfg, st, lo, 50)) == [("resolved", (), 1.0)]
    assert evaluate(cfg, st, hi, 60) == [] and st.pending() == [()]   # pending afresh


def test_pending_dropped_when_condition_clears_before_hold():
    cfg = rule("metric: m\nop: '>='\nthreshold: 1\nhold_for: 1m")
    st = RuleState()
    assert evaluate(cfg, st, [("m", {}, 1.0)], 0) == []
    assert evaluate(cfg, st, [("m", {}, 0.0)], 30) == []
    assert st.pending() == []
    assert evaluate(cfg, st, [("m", {}, 1.0)], 60) == []   # pending since 60 now, not 0
    assert states(evaluate(cfg, st, [("m", {}, 1.0)], 120)) == [("firing", (), 1.0)]


def test_matchers_max_by_and_missing_series_resolves():
    cfg = rule("metric: m\nlabels: {code: '!=OK', method: '=~Intent.*'}\naggregate: max\n"
               "by: [method]\nop: '>'\nthreshold: 2")
    st = RuleState()
    s = [("m", {"method": "IntentService/Get", "code": "INTERNAL"}, 3.0),
         ("m", {"method": "IntentService/Get", "code": "OK"}, 99.0),        # code excluded
         ("m", {"method": "AdminService/GetTree", "code": "INTERNAL"}, 9.0),  # method excl.
         ("m_other", {"method": "IntentService/Get", "code": "INTERNAL"}, 9.0)]
    assert states(evaluate(cfg, st, s, 0)) == [("firing", ("IntentService/Get",), 3.0)]
    assert source_of("r", cfg, ("IntentService/Get",)) == 'r{method="IntentService/Get"}'
    assert states(evaluate(cfg, st, [], 10)) == [("resolved", ("IntentService/Get",), None)]


def test_no_series_means_no_alert():
    for op in ("<", "=="):
        cfg = rule(f"metric: absent\nop: '{op}'\nthreshold: 0")
        assert evaluate(cfg, RuleState(), [], 0) == []


def test_increase_over_window_with_new_series_and_reset():
    cfg = rule("metric: c_total\naggregate: increase\nwindow: 60s\nop: '>='\nthreshold: 5")
    st = RuleState()
    assert evaluate(cfg, st, [("c_total", {"a": "x"}, 100.0)], 0) == []      # baseline only
    assert evaluate(cfg, st, [("c_total", {"a": "x"}, 102.0)], 10) == []     # +2
    s = [("c_total", {"a": "x"}, 1.0),          # reset: counts 1
         ("c_total", {"a": "y"}, 2.0)]          # new series: counts from 0
    assert states(evaluate(cfg, st, s, 20)) == [("firing", (), 5.0)]
    assert evaluate(cfg, st, s, 69) == []        # +0; the +2 of t=10 still inside
    assert states(evaluate(cfg, st, s, 70)) == [("resolved", (), 3.0)]  # t=10 left it


def test_rate_is_per_second_over_the_window():
    cfg = rule("metric: c_total\naggregate: rate\nwindow: 10s\nop: '>'\nthreshold: 0.5")
    st = RuleState()
    evaluate(cfg, st, [("c_total", {}, 0.0)], 0)
    assert evaluate(cfg, st, [("c_total", {}, 5.0)], 5) == []              # 0.5/s: not >
    assert states(evaluate(cfg, st, [("c_total", {}, 6.0)], 10)) == [("firing", (), 0.6)]


def test_count_and_min():
    st = RuleState()
    cfg = rule("metric: up\naggregate: count\nop: '<'\nthreshold: 2")
    assert states(evaluate(cfg, st, [("up", {"i": "1"}, 1.0)], 0)) == [("firing", (), 1.0)]
    cfg = rule("metric: up\naggregate: min\nop: '=='\nthreshold: 0")
    assert states(evaluate(cfg, RuleState(), [("up", {"i": "1"}, 1.0),
                                              ("up", {"i": "2"}, 0.0)], 0)) == \
        [("firing", (), 0.0)]


def test_restored_firing_group_resolves_when_clear():
    cfg = rule("metric: m\nby: [actor]\nop: '>'\nthreshold: 1")
    st = RuleState()
    st.restore(("a",), 0)
    assert evaluate(cfg, st, [("m", {"actor": "a"}, 5.0)], 10) == []   # still firing
    assert states(evaluate(cfg, st, [("m", {"actor": "a"}, 0.0)], 20)) == \
        [("resolved", ("a",), 0.0)]


def test_message_template():
    cfg = rule("metric: m\nby: [actor]\nmessage: '{actor}: {value:.1f} {op} {threshold:g}'")
    assert cfg.render({"actor": "x", "value": 2.25, "op": ">", "threshold": 1.0}) == \
        "x: 2.2 > 1"
