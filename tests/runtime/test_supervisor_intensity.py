"""Restart intensity (at most ``intensity`` restarts within ``period``) and escalation.

OTP semantics: the restart that would make it ``intensity + 1`` within the period is not
done; the supervisor stops its children (last-started first) and fails, so its own
supervisor sees an ordinary child failure; at the root, the node's exit hook runs.
"""

from __future__ import annotations

import pytest

from runtime import ActorUnavailable, Escalation, Strategy

from .supkit import Crash, Journal, SetupFailures, probe, subsup, sup


def crash(t, path: str, n: int) -> None:
    """Crash ``path`` and wait for restart number ``n`` of it."""
    t.reg.tell(path, Crash(f"crash {n}"))
    t.rec.wait_for("restarted", path, count=n)


def test_root_escalates_on_the_restart_beyond_intensity(tree):
    journal = Journal()
    t = tree(sup(*(probe(c, journal=journal) for c in "abcd"), intensity=2, period=5))
    crash(t, "b", 1)
    crash(t, "b", 2)                        # two restarts within the period: allowed
    assert not t.exited.is_set()
    t.reg.tell("b", Crash("the last straw"))
    esc = t.escalation()
    assert esc.path == "root" and "the last straw" in repr(esc.cause)
    [ev] = t.rec.of("escalated")
    assert ev.path == "root" and "the last straw" in ev.data["reason"]
    # everyone else stopped, last-started first; no third restart was attempted
    assert t.order("stopped") == ["d", "c", "a"]
    assert journal.of("teardown")[-4:] == ["b", "d", "c", "a"]
    assert len(t.rec.of("restarted")) == 2
    assert not t.ref.is_alive()
    for path in "abcd":
        with pytest.raises(ActorUnavailable):
            t.who(path)


def test_intensity_zero_escalates_on_the_first_failure(tree):
    t = tree(sup(probe("a"), intensity=0))
    t.reg.tell("a", Crash())
    assert t.escalation().path == "root"
    assert t.rec.of("restarting") == []


def test_sub_supervisor_escalates_to_its_parent_which_restarts_it(tree):
    t = tree(sup(probe("x"),
                 subsup("g", probe("p"), probe("q"), probe("r"), intensity=1, period=5),
                 probe("y"), intensity=3))
    x, y, g = t.uid("x"), t.uid("y"), t.reg.lookup("g")
    crash(t, "g/q", 1)
    t.reg.tell("g/q", Crash("again"))
    t.rec.wait_for("restarted", "g")        # the root restarted the whole group
    [esc] = t.rec.of("escalated")
    assert esc.path == "g" and "again" in esc.data["reason"]
    assert t.order("stopped", {"g/p", "g/q", "g/r"}) == ["g/r", "g/p"]
    exits = [e for e in t.rec.of("exited", "g")]
    assert len(exits) == 1 and "Escalation" in exits[0].data["reason"]
    assert t.reg.lookup("g") is not g
    assert (t.uid("x"), t.uid("y")) == (x, y)   # one_for_one at the root
    info = t.describe()
    assert info["g"].restarts == 1 and "exceeded its restart intensity" in info["g"].last_error
    assert [info[p].restarts for p in ("g/p", "g/q", "g/r")] == [0, 0, 0]  # fresh group
    assert not t.exited.is_set()


def test_escalation_propagates_up_to_the_root_exit_hook(tree):
    t = tree(sup(probe("x"),
                 subsup("g", subsup("h", probe("leaf"), intensity=0), intensity=0),
                 intensity=0))
    t.reg.tell("g/h/leaf", Crash("deep"))
    esc = t.escalation()
    assert esc.path == "root"
    inner = esc.cause
    assert isinstance(inner, Escalation) and inner.path == "g"
    assert isinstance(inner.cause, Escalation) and inner.cause.path == "g/h"
    assert "deep" in repr(inner.cause.cause)
    assert [e.path for e in t.rec.of("escalated")] == ["g/h", "g", "root"]
    assert t.order("stopped") == ["x"]


def test_restarts_spread_over_more_than_the_period_do_not_escalate(tree, clock):
    t = tree(sup(probe("a"), intensity=2, period=5))
    for n in range(1, 9):                   # a crash every 3 s: at most 2 in any 5 s
        crash(t, "a", n)
        clock.advance(3)
    assert not t.exited.is_set()
    assert t.describe()["a"].restarts == 8


def test_the_window_slides_old_restarts_fall_out_new_ones_still_count(tree, clock):
    t = tree(sup(probe("a"), intensity=2, period=5))
    crash(t, "a", 1)                        # t=0
    clock.advance(3)
    crash(t, "a", 2)                        # t=3: two in the window
    clock.advance(3)
    crash(t, "a", 3)                        # t=6: the t=0 one slid out -> two
    assert not t.exited.is_set()
    t.reg.tell("a", Crash("third in five seconds"))   # t=6: 3, 6, 6 -> too many
    assert "third in five seconds" in repr(t.escalation().cause)


def test_restart_exactly_at_the_period_boundary_still_counts(tree, clock):
    t = tree(sup(probe("a"), intensity=1, period=5))
    crash(t, "a", 1)                        # t=0
    clock.advance(5)                        # t=5: 0 is still within [0, 5]
    t.reg.tell("a", Crash())
    t.escalation()


def test_setup_failing_forever_escalates_instead_of_looping(tree):
    failures = SetupFailures(0)
    t = tree(sup(probe("a"), probe("b", failures=failures), intensity=3, period=60))
    failures.remaining = -1
    t.reg.tell("b", Crash())
    esc = t.escalation()
    assert "setup failed on purpose" in repr(esc.cause)
    assert failures.raised == 3             # 1 crash + 3 failed starts = 4 > 3
    assert t.order("stopped") == ["a"]


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
def test_a_group_restart_counts_once_against_intensity(tree, strategy):
    t = tree(sup(probe("a"), probe("b"), probe("c"), strategy=strategy, intensity=1))
    crash(t, "a", 1)
    assert not t.exited.is_set()
    t.describe()
    assert all(t.describe()[c].restarts == 1 for c in "abc")
