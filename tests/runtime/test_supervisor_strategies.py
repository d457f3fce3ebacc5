"""Restart strategies (OTP supervisor_SUITE: one_for_one, one_for_all, rest_for_one).

Which children are replaced is read from identities (a fresh uid per instance), the order
of stops and starts from the recorded events.
"""

from __future__ import annotations

import pytest

from runtime import Restart, StopChild, Strategy

from .supkit import Crash, Journal, probe, subsup, sup

ABC = ("a", "b", "c", "d")


def start_abcd(tree, strategy: Strategy, journal: Journal | None = None):
    t = tree(sup(*(probe(c, journal=journal) for c in ABC), strategy=strategy))
    return t, {c: t.uid(c) for c in ABC}


def changed(t, before: dict[str, str]) -> set[str]:
    return {c for c, uid in before.items() if t.uid(c) != uid}


def test_one_for_one_restarts_only_the_failed_child(tree):
    t, before = start_abcd(tree, Strategy.ONE_FOR_ONE)
    t.reg.tell("b", Crash())
    t.rec.wait_for("restarted", "b")
    assert changed(t, before) == {"b"}
    assert t.who("b").generation == 2
    assert t.order("stopped") == []          # nobody else was touched
    assert t.order("started") == ["a", "b", "c", "d", "b"]
    info = t.describe()
    assert [info[c].restarts for c in ABC] == [0, 1, 0, 0]
    assert info["b"].state == "running" and "boom" in info["b"].last_error


def test_one_for_all_restarts_every_child_stopping_in_reverse_starting_in_order(tree):
    journal = Journal()
    t, before = start_abcd(tree, Strategy.ONE_FOR_ALL, journal)
    t.reg.tell("b", Crash())
    for c in ABC:
        t.rec.wait_for("restarted", c)
    assert changed(t, before) == set(ABC)
    # the survivors are stopped last-started first; the crashed one is already dead
    assert t.order("stopped") == ["d", "c", "a"]
    assert journal.of("teardown") == ["b", "d", "c", "a"]
    assert t.order("started") == ["a", "b", "c", "d", "a", "b", "c", "d"]
    assert [t.who(c).generation for c in ABC] == [2, 2, 2, 2]
    [restarting] = t.rec.of("restarting")
    assert restarting.path == "b" and restarting.data["group"] == list(ABC)


def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it(tree):
    t, before = start_abcd(tree, Strategy.REST_FOR_ONE)
    t.reg.tell("b", Crash())
    for c in ("b", "c", "d"):
        t.rec.wait_for("restarted", c)
    assert changed(t, before) == {"b", "c", "d"}
    assert t.order("stopped") == ["d", "c"]
    assert t.order("started")[4:] == ["b", "c", "d"]
    info = t.describe()
    assert [info[c].restarts for c in ABC] == [0, 1, 1, 1]


def test_rest_for_one_last_child_restarts_alone(tree):
    t, before = start_abcd(tree, Strategy.REST_FOR_ONE)
    t.reg.tell("d", Crash())
    t.rec.wait_for("restarted", "d")
    assert changed(t, before) == {"d"}
    assert t.order("stopped") == []


def test_rest_for_one_first_child_restarts_all(tree):
    t, before = start_abcd(tree, Strategy.REST_FOR_ONE)
    t.reg.tell("a", Crash())
    for c in ABC:
        t.rec.wait_for("restarted", c)
    assert changed(t, before) == set(ABC)
    assert t.order("stopped") == ["d", "c", "b"]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_repeated_crashes_keep_generations_increasing(tree, strategy):
    t, _ = start_abcd(tree, strategy)
    for n in range(1, 4):
        t.reg.tell("d", Crash())
        t.rec.wait_for("restarted", "d", count=n)
        assert t.who("d").generation == n + 1
    assert t.describe()["d"].restarts == 3


def test_strategy_applies_per_supervisor_in_a_nested_tree(tree):
    """A crash inside a one_for_all group leaves the one_for_one root's others alone."""
    t = tree(sup(probe("x"),
                 subsup("g", probe("p"), probe("q"), strategy=Strategy.ONE_FOR_ALL),
                 probe("y")))
    before = {p: t.uid(p) for p in ("x", "g/p", "g/q", "y")}
    g_uid = t.reg.lookup("g")
    t.reg.tell("g/q", Crash())
    t.rec.wait_for("restarted", "g/p")
    t.rec.wait_for("restarted", "g/q")
    assert changed(t, before) == {"g/p", "g/q"}
    assert t.reg.lookup("g") is g_uid          # the group supervisor itself survived
    assert t.describe()["g"].restarts == 0


def test_a_crashed_sub_supervisor_is_restarted_with_fresh_children(tree):
    """A supervisor child failing is restarted like any child: its subtree is new."""
    t = tree(sup(probe("x"), subsup("g", probe("p"), probe("q")), probe("y"),
                 strategy=Strategy.REST_FOR_ONE))
    before = {p: t.uid(p) for p in ("x", "g/p", "g/q", "y")}
    t.reg.tell("g", Crash())   # a supervisor rejects unknown messages by crashing
    t.rec.wait_for("restarted", "y")
    t.rec.wait_for("restarted", "g")
    assert changed(t, before) == {"g/p", "g/q", "y"}
    # the dead group's children were stopped by its teardown, last-started first
    assert t.order("stopped") == ["g/q", "g/p", "y"]


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
def test_a_sibling_stopped_on_request_stays_stopped_through_a_group_restart(tree, strategy):
    t, before = start_abcd(tree, strategy)
    t.ask(StopChild("c"))
    t.reg.tell("a", Crash())
    t.rec.wait_for("restarted", "d")
    info = t.describe()
    assert info["c"].state == "stopped" and info["c"].restarts == 0
    assert changed(t, {k: v for k, v in before.items() if k != "c"}) == {"a", "b", "d"}


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
def test_a_temporary_sibling_taken_down_by_a_group_restart_is_not_restarted(tree, strategy):
    journal = Journal()
    t = tree(sup(probe("a"), probe("b"), probe("tmp", Restart.TEMPORARY, journal=journal),
                 probe("d"), strategy=strategy))
    t.reg.tell("b", Crash())
    t.rec.wait_for("restarted", "d")
    assert list(t.describe()) == ["a", "b", "d"]
    assert journal.of("setup") == ["tmp"] and journal.of("teardown") == ["tmp"]
    assert "tmp" not in t.rec.wait_for("restarting", "b")[0].data["group"]
