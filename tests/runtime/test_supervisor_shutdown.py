"""Ordered, time-bounded shutdown (OTP: children stopped in reverse start order; a child
that does not stop within its shutdown time is given up on and the shutdown goes on).
"""

from __future__ import annotations

import logging
import time

import pytest

from runtime import (
    ActorUnavailable,
    ChildSpec,
    RestartChild,
    StartChild,
    StopChild,
    Supervisor,
)

from .supkit import Block, Gate, Journal, Probe, ProbeConfig, Whoami, probe, subsup, sup


def test_stopping_the_tree_stops_children_in_reverse_start_order_recursively(tree):
    j = Journal()
    t = tree(sup(probe("a", journal=j),
                 subsup("g", probe("p", journal=j), probe("q", journal=j),
                        subsup("h", probe("r", journal=j), probe("s", journal=j))),
                 probe("c", journal=j)))
    t.ask(StartChild(ChildSpec("dyn", Probe, ProbeConfig(journal=j))))
    t.stop()
    assert t.order("stopped") == ["dyn", "c", "g/h/s", "g/h/r", "g/h", "g/q", "g/p", "g", "a"]
    assert j.of("teardown") == ["dyn", "c", "g/h/s", "g/h/r", "g/q", "g/p", "a"]
    assert t.exits == [None]
    assert t.reg.paths() == []


def test_a_stopped_tree_refuses_messages(tree):
    t = tree(sup(probe("a")))
    t.stop()
    with pytest.raises(ActorUnavailable):
        t.who("a")


def test_a_child_ignoring_stop_is_abandoned_and_the_shutdown_goes_on(tree, caplog):
    j = Journal()
    gate = Gate()
    t = tree(sup(probe("a", journal=j), probe("slow", shutdown=0.2, journal=j),
                 probe("c", journal=j)))
    try:
        t.reg.tell("slow", Block(gate))
        assert gate.entered.wait(5)
        began = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="orbital.supervisor"):
            t.stop()
        took = time.monotonic() - began
        assert 0.2 <= took < 2.0
        assert t.order("stopped") == ["c", "a"]
        [ab] = t.rec.of("abandoned")
        assert ab.path == "slow" and ab.data["timeout"] == 0.2
        assert [e.kind for e in t.rec.events if e.kind in ("stopped", "abandoned")] == \
            ["stopped", "abandoned", "stopped"]           # c, then slow given up, then a
        [rec] = [r for r in caplog.records if "abandoned" in r.getMessage()]
        assert rec.path == "slow" and rec.shutdown_timeout == 0.2
        assert j.of("teardown") == ["c", "a"]
        assert t.exits == [None]
    finally:
        gate.release.set()           # let the abandoned thread finish (leak check)


def test_stop_child_on_a_blocked_child_abandons_it_and_the_supervisor_stays_responsive(tree):
    gate = Gate()
    t = tree(sup(probe("a"), probe("slow", shutdown=0.1)))
    try:
        t.reg.tell("slow", Block(gate))
        assert gate.entered.wait(5)
        assert t.ask(StopChild("slow")) == "slow"
        assert t.order("abandoned") == ["slow"]
        info = t.describe()
        assert info["slow"].state == "stopped" and info["a"].state == "running"
        with pytest.raises(ActorUnavailable):
            t.reg.tell("slow", Whoami())
        assert t.ask(RestartChild("slow")) == "slow"   # a fresh instance can take over
        assert t.who("slow").generation == 2
    finally:
        gate.release.set()


def test_an_abandoned_sub_supervisor_does_not_hold_up_the_rest(tree):
    gate = Gate()
    slow_group = ChildSpec("g", Supervisor, sup(probe("slow", shutdown=5.0)), shutdown=0.2)
    t = tree(sup(probe("a"), slow_group, probe("c")))
    try:
        t.reg.tell("g/slow", Block(gate))
        assert gate.entered.wait(5)
        began = time.monotonic()
        t.stop()
        assert time.monotonic() - began < 2.0
        assert t.order("abandoned") == ["g"]
        assert t.order("stopped") == ["c", "a"]
    finally:
        gate.release.set()


def test_a_stopped_permanent_child_stays_stopped_until_restarted(tree):
    t = tree(sup(probe("a"), probe("b")))
    old = t.uid("b")
    assert t.ask(StopChild("b")) == "b"
    t.describe()
    assert t.describe()["b"].state == "stopped"
    assert t.rec.of("restarting") == []           # a requested stop is not a failure
    assert "b" not in t.reg.paths()
    t.ask(RestartChild("b"))
    assert t.uid("b") != old and t.describe()["b"].state == "running"


def test_teardown_failing_does_not_stop_the_shutdown(tree):
    class BadTeardown(Probe):
        def teardown(self):
            raise OSError("cannot close")
    j = Journal()
    t = tree(sup(probe("a", journal=j), probe("bad", actor=BadTeardown), probe("c", journal=j)))
    t.stop()
    assert j.of("teardown") == ["c", "a"]
    assert t.exits == [None]
    assert set(t.order("stopped")) == {"c", "bad", "a"}
