"""Reload as a diff (ApplySpec): added children start, removed ones stop, changed ones
restart, everything else keeps running (same instance, same ``started_at``).
"""

from __future__ import annotations

import pytest

from runtime import (
    AlreadyExists,
    ApplySpec,
    Backoff,
    ChildSpec,
    DiffResult,
    Restart,
    StartChild,
    Strategy,
    Supervisor,
)

from .supkit import (
    Crash,
    Journal,
    OtherProbe,
    Probe,
    ProbeConfig,
    SetupFailures,
    probe,
    subsup,
    sup,
)

PATHS = ("a", "b", "c", "g", "g/p", "g/q")


def base(**kw):
    return sup(probe("a"), probe("b", tag="v1"), probe("c"),
               subsup("g", probe("p"), probe("q")), **kw)


def snapshot(t, paths=PATHS):
    info = t.describe()
    return {p: (t.uid(p) if p != "g" else t.reg.lookup(p).actor_urn, info[p].started_at)
            for p in paths if p in info}


def test_added_removed_changed_unchanged(tree, clock):
    t = tree(base())
    before = snapshot(t)
    clock.advance(10)
    new = sup(probe("a"), probe("b", tag="v2"), subsup("g", probe("p"), probe("q")),
              probe("d"))
    result = t.ask(ApplySpec(new))
    assert isinstance(result, DiffResult)
    assert (result.started, result.stopped, result.restarted) == (["d"], ["c"], ["b"])
    assert result.unchanged == 3                       # a, g/p, g/q
    after = snapshot(t, PATHS + ("d",))
    for p in ("a", "g", "g/p", "g/q"):
        assert after[p] == before[p], p                # same instance, same uptime
    assert after["b"][0] != before["b"][0] and after["b"][1] == before["b"][1] + 10
    assert after["d"][1] == clock.wall()
    assert "c" not in after and "c" not in t.reg.paths()
    assert t.order("stopped") == ["c", "b"]
    assert t.order("started")[-2:] == ["b", "d"]
    assert t.who("b").generation == 2


def test_applying_the_same_spec_changes_nothing(tree):
    t = tree(base())
    before = snapshot(t)
    result = t.ask(ApplySpec(base()))
    assert (result.started, result.stopped, result.restarted, result.unchanged) == \
        ([], [], [], 5)
    assert snapshot(t) == before and t.order("stopped") == []


@pytest.mark.parametrize("change", [
    dict(restart=Restart.TRANSIENT),
    dict(shutdown=9.0),
    dict(actor=OtherProbe),
])
def test_restart_type_shutdown_or_class_changes_are_a_change(tree, change):
    t = tree(base())
    before = snapshot(t)
    args = dict(restart=Restart.PERMANENT, actor=Probe, shutdown=2.0)
    args.update(change)
    new = sup(probe("a", args["restart"], actor=args["actor"], shutdown=args["shutdown"]),
              probe("b", tag="v1"), probe("c"), subsup("g", probe("p"), probe("q")))
    assert t.ask(ApplySpec(new)).restarted == ["a"]
    after = snapshot(t)
    assert {p for p in PATHS if after[p] != before[p]} == {"a"}
    if "actor" in change:
        assert t.describe()["a"].kind == "other-probe"


def test_nested_supervisors_are_diffed_recursively(tree):
    t = tree(sup(probe("a"), subsup("g", probe("p"), subsup("h", probe("x"), probe("y")))))
    before = {p: t.uid(p) for p in ("a", "g/p", "g/h/x", "g/h/y")}
    g, h = t.reg.lookup("g"), t.reg.lookup("g/h")
    new = sup(probe("a"), subsup("g", probe("p"),
                                 subsup("h", probe("x", tag="new"), probe("z"))))
    result = t.ask(ApplySpec(new))
    assert (result.started, result.stopped, result.restarted, result.unchanged) == \
        (["g/h/z"], ["g/h/y"], ["g/h/x"], 2)
    assert t.reg.lookup("g") is g and t.reg.lookup("g/h") is h
    assert t.uid("a") == before["a"] and t.uid("g/p") == before["g/p"]
    assert t.uid("g/h/x") != before["g/h/x"]
    assert [p for p in t.describe()] == ["a", "g", "g/p", "g/h", "g/h/x", "g/h/z"]


def test_dynamic_children_are_untouched_by_a_reload(tree):
    t = tree(base())
    t.reg.ask("g", StartChild(ChildSpec("s1", Probe, ProbeConfig())))
    t.ask(StartChild(ChildSpec("top", Probe, ProbeConfig())))
    dyn = {p: t.uid(p) for p in ("g/s1", "top")}
    new = sup(probe("b", tag="v2"), subsup("g", probe("q")), probe("e"))
    t.ask(ApplySpec(new))
    assert {p: t.uid(p) for p in dyn} == dyn
    assert list(t.describe()) == ["b", "g", "g/q", "g/s1", "e", "top"]


def test_children_follow_the_new_order_and_the_strategy_uses_it(tree):
    t = tree(base(strategy=Strategy.REST_FOR_ONE))
    new = sup(probe("c"), probe("b", tag="v1"), subsup("g", probe("p"), probe("q")),
              probe("a"), strategy=Strategy.REST_FOR_ONE)
    result = t.ask(ApplySpec(new))
    assert result.restarted == [] and result.unchanged == 5
    assert list(t.describe()) == ["c", "b", "g", "g/p", "g/q", "a"]
    before = {p: t.uid(p) for p in ("a", "b", "c")}
    g = t.reg.lookup("g")
    t.reg.tell("b", Crash())
    t.rec.wait_for("restarted", "a")
    assert {p for p, u in before.items() if t.uid(p) != u} == {"b", "a"}
    assert t.reg.lookup("g") is not g                  # after b in the new order
    assert t.order("stopped", {"a", "g"}) == ["a", "g"]  # and stopped last-first


def test_a_supervisors_settings_change_in_place_without_restarting_children(tree):
    t = tree(base())
    before = snapshot(t)
    new = sup(probe("a"), probe("b", tag="v1"), probe("c"),
              subsup("g", probe("p"), probe("q"), strategy=Strategy.ONE_FOR_ALL,
                     intensity=0, backoff=Backoff(initial=2, jitter=0)))
    result = t.ask(ApplySpec(new))
    assert result.restarted == [] and result.started == [] and result.stopped == []
    assert snapshot(t) == before
    # the new strategy and intensity are in force: q's crash takes the group down ...
    t.reg.tell("g/q", Crash())
    t.rec.wait_for("restarted", "g")
    [esc] = t.rec.of("escalated")
    assert esc.path == "g"
    # ... while the root's own settings were changed too (intensity 10 -> 0 next)
    t.ask(ApplySpec(sup(*new.children, intensity=0)))
    t.reg.tell("a", Crash())
    assert t.escalation().path == "root"


def test_root_strategy_change_applies_to_the_next_failure(tree):
    t = tree(base())
    t.ask(ApplySpec(base(strategy=Strategy.ONE_FOR_ALL)))
    before = {p: t.uid(p) for p in ("a", "b", "c")}
    t.reg.tell("c", Crash())
    t.rec.wait_for("restarted", "g")            # the last of the group to restart
    assert all(t.uid(p) != u for p, u in before.items())


def test_a_removed_child_waiting_for_its_restart_is_not_restarted(tree, clock):
    t = tree(base(backoff=Backoff(initial=1, jitter=0)))
    t.reg.tell("c", Crash())
    t.rec.wait_for("restarting", "c")
    new = sup(probe("a"), probe("b", tag="v1"), subsup("g", probe("p"), probe("q")),
              backoff=Backoff(initial=1, jitter=0))
    assert t.ask(ApplySpec(new)).stopped == ["c"]
    clock.advance(5)
    t.describe()
    assert "c" not in t.describe() and t.rec.of("restarted") == []


def test_an_added_child_failing_to_start_does_not_take_the_supervisor_down(tree):
    t = tree(base())
    before = snapshot(t)
    failures = SetupFailures(1)
    new = sup(probe("a"), probe("b", tag="v1"), probe("c"),
              subsup("g", probe("p"), probe("q")), probe("flaky", failures=failures))
    result = t.ask(ApplySpec(new))
    assert result.started == ["flaky"]
    assert t.ref.is_alive() and snapshot(t) == before
    t.rec.wait_for("restarted", "flaky")                 # retried like any failure
    assert list(t.describe()) == ["a", "b", "c", "g", "g/p", "g/q", "flaky"]
    assert t.describe()["flaky"].state == "running"


def test_a_changed_child_failing_to_start_is_retried_and_its_siblings_keep_running(tree):
    t = tree(base())
    before = snapshot(t)
    failures = SetupFailures(1)
    new = sup(probe("a"), probe("b", tag="v2", failures=failures), probe("c"),
              subsup("g", probe("p"), probe("q")))
    assert t.ask(ApplySpec(new)).restarted == ["b"]
    t.rec.wait_for("restarted", "b")
    after = snapshot(t)
    assert {p for p in PATHS if after[p] != before[p]} == {"b"}
    assert list(t.describe()) == list(PATHS[:3]) + ["g", "g/p", "g/q"]


def test_a_static_id_clashing_with_a_dynamic_child_is_refused_and_nothing_changes(tree):
    t = tree(base())
    t.ask(StartChild(ChildSpec("s1", Probe, ProbeConfig())))
    before = snapshot(t, PATHS + ("s1",))
    new = sup(probe("a"), probe("b", tag="v2"), probe("s1"))
    with pytest.raises(AlreadyExists, match="s1"):
        t.ask(ApplySpec(new))
    assert t.ref.is_alive() and snapshot(t, PATHS + ("s1",)) == before
    assert t.order("stopped") == []


def test_a_sub_supervisor_changed_in_kind_restarts_its_subtree(tree):
    class OtherSupervisor(Supervisor):
        kind = "other-supervisor"
    t = tree(base())
    before = snapshot(t)
    g = subsup("g", probe("p"), probe("q"))
    new = sup(probe("a"), probe("b", tag="v1"), probe("c"),
              ChildSpec("g", OtherSupervisor, g.config, g.restart, g.shutdown))
    assert t.ask(ApplySpec(new)).restarted == ["g"]
    after = snapshot(t)
    assert {p for p in PATHS if after[p] != before[p]} == {"g", "g/p", "g/q"}


def test_reload_stops_removed_children_in_reverse_order(tree):
    j = Journal()
    t = tree(sup(*(probe(c, journal=j) for c in "abcde")))
    t.ask(ApplySpec(sup(probe("a", journal=j), probe("c", journal=j))))
    assert t.order("stopped") == ["e", "d", "b"]
    assert j.of("teardown") == ["e", "d", "b"]
