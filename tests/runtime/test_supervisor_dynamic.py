"""Dynamic children, requests by path (RestartChild / StopChild), DescribeTree, and state
rebuilt by ``setup()`` after a restart (a real file stands in for the store).
"""

from __future__ import annotations

import pytest

from runtime import (
    ActorUnavailable,
    AlreadyExists,
    Backoff,
    ChildSpec,
    DescribeTree,
    FailedPrecondition,
    NotFound,
    OrbitalError,
    Restart,
    RestartChild,
    StartChild,
    StopChild,
)

from .supkit import (
    Counter,
    CounterConfig,
    Crash,
    Exit,
    Incr,
    Probe,
    ProbeConfig,
    SetupFailures,
    Whoami,
    probe,
    subsup,
    sup,
)


def dyn(cid: str, restart: Restart = Restart.PERMANENT, **cfg) -> StartChild:
    return StartChild(ChildSpec(cid, Probe, ProbeConfig(**cfg), restart))


# ---- dynamic children ------------------------------------------------------------------------
def test_start_child_through_the_registry_of_a_nested_supervisor(tree):
    t = tree(sup(probe("book"), subsup("solvers")))
    assert t.reg.ask("solvers", dyn("s1")) == "solvers/s1"
    assert t.reg.ask("solvers", dyn("s2")) == "solvers/s2"
    assert t.who("solvers/s1").path == "solvers/s1"
    info = t.describe()
    assert [p for p in info if p.startswith("solvers/")] == ["solvers/s1", "solvers/s2"]
    assert info["solvers/s1"].dynamic and not info["book"].dynamic
    assert t.order("started")[-2:] == ["solvers/s1", "solvers/s2"]


def test_duplicate_ids_are_refused_with_already_exists(tree):
    t = tree(sup(probe("a")))
    t.ask(dyn("d"))
    old = t.uid("d")
    for cid in ("a", "d"):
        with pytest.raises(AlreadyExists, match=repr(cid)):
            t.ask(dyn(cid))
    assert t.uid("d") == old and t.ref.is_alive()


def test_unknown_paths_are_not_found(tree):
    t = tree(sup(probe("a"), subsup("g", probe("p"))))
    for msg in (StopChild("nope"), RestartChild("nope"), StopChild("g/nope"),
                RestartChild("g/p/deeper")):
        with pytest.raises(NotFound):
            t.ask(msg)
    assert t.ref.is_alive() and t.uid("g/p")


def test_a_temporary_dynamic_child_that_crashes_is_removed_not_restarted(tree):
    t = tree(sup(probe("a")))
    t.ask(dyn("session", Restart.TEMPORARY))
    t.reg.tell("session", Crash())
    t.rec.wait_for("exited", "session")
    assert list(t.describe()) == ["a"]
    assert t.rec.of("restarting") == []
    t.ask(dyn("session", Restart.TEMPORARY))    # the id is free again
    assert t.who("session").generation == 1


def test_a_permanent_dynamic_child_is_restarted_and_stays_dynamic(tree):
    t = tree(sup(probe("a")))
    t.ask(dyn("d"))
    old = t.uid("d")
    t.reg.tell("d", Crash())
    t.rec.wait_for("restarted", "d")
    assert t.uid("d") != old and t.describe()["d"].dynamic


def test_stop_child_removes_a_dynamic_child(tree):
    t = tree(sup(probe("a")))
    t.ask(dyn("d"))
    assert t.ask(StopChild("d")) == "d"
    assert list(t.describe()) == ["a"] and t.order("stopped") == ["d"]
    t.ask(dyn("d"))
    assert t.who("d").generation == 1


def test_a_dynamic_child_failing_to_start_is_a_typed_error_the_supervisor_lives(tree):
    t = tree(sup(probe("a")))
    a = t.uid("a")
    with pytest.raises(OrbitalError) as caught:
        t.ask(dyn("bad", failures=SetupFailures(-1)))
    assert isinstance(caught.value, FailedPrecondition)
    assert "setup failed on purpose" in str(caught.value)
    assert t.ref.is_alive() and t.uid("a") == a and list(t.describe()) == ["a"]
    assert len(t.rec.of("exited", "bad")) == 1
    t.ask(dyn("bad"))                             # nothing left behind under that id
    assert t.who("bad").path == "bad"


# ---- requests by path ------------------------------------------------------------------------
def test_restart_child_by_nested_path_replaces_only_that_child(tree, clock):
    t = tree(sup(probe("a"), subsup("g", probe("p"), probe("q"))))
    before = {p: t.uid(p) for p in ("a", "g/p", "g/q")}
    started = t.describe()["g/q"].started_at
    clock.advance(7)
    assert t.ask(RestartChild("g/q")) == "g/q"
    assert {p for p, u in before.items() if t.uid(p) != u} == {"g/q"}
    info = t.describe()["g/q"]
    assert info.restarts == 1 and info.started_at == started + 7 and info.state == "running"
    [ev] = t.rec.of("restarted", "g/q")
    assert ev.data["requested"] is True


def test_restart_child_of_a_sub_supervisor_renews_its_whole_subtree(tree):
    t = tree(sup(probe("a"), subsup("g", probe("p"), probe("q"))))
    before = {p: t.uid(p) for p in ("a", "g/p", "g/q")}
    t.ask(RestartChild("g"))
    assert {p for p, u in before.items() if t.uid(p) != u} == {"g/p", "g/q"}


def test_stop_child_by_nested_path(tree):
    t = tree(sup(probe("a"), subsup("g", probe("p"), probe("q"))))
    assert t.reg.ask("g", StopChild("g/p")) == "g/p"
    assert t.ask(StopChild("g/q")) == "g/q"      # routed down from the root
    info = t.describe()
    assert (info["g/p"].state, info["g/q"].state) == ("stopped", "stopped")


# ---- DescribeTree -------------------------------------------------------------------------
def test_describe_tree_reports_path_kind_state_restarts_started_at_last_error(tree, clock):
    t = tree(sup(probe("a"), subsup("g", probe("p"), probe("q", Restart.TRANSIENT)),
                 ChildSpec("n", Counter, CounterConfig("/nonexistent/x"))))
    t0 = clock.wall()
    clock.advance(3)
    t.reg.tell("g/p", Crash("disk on fire"))
    t.rec.wait_for("restarted", "g/p")
    t.reg.ask("g/q", Exit())
    t.rec.wait_for("exited", "g/q")
    infos = t.ask(DescribeTree())
    assert [i.path for i in infos] == ["a", "g", "g/p", "g/q", "n"]
    info = {i.path: i for i in infos}
    assert [info[p].kind for p in ("a", "g", "g/p", "n")] == \
        ["probe", "supervisor", "probe", "counter"]
    assert (info["a"].state, info["a"].restarts, info["a"].last_error) == ("running", 0, "")
    assert info["a"].started_at == t0
    assert info["g/p"].restarts == 1 and info["g/p"].started_at == t0 + 3
    assert "disk on fire" in info["g/p"].last_error
    assert (info["g/q"].state, info["g/q"].last_error) == ("stopped", "")
    assert not any(i.dynamic for i in infos)


# ---- state rebuilt in setup -------------------------------------------------------------------
def test_a_restarted_actor_rebuilds_its_state_from_disk(tree, tmp_path):
    store = tmp_path / "cursor"
    t = tree(sup(ChildSpec("watcher", Counter, CounterConfig(str(store)))))
    assert [t.reg.ask("watcher", Incr()) for _ in range(3)] == [1, 2, 3]
    old = t.uid("watcher")
    t.reg.tell("watcher", Crash())
    t.rec.wait_for("restarted", "watcher")
    assert t.uid("watcher") != old
    assert t.reg.ask("watcher", "count") == 3            # resumed, not reset
    assert t.reg.ask("watcher", Incr()) == 4
    assert store.read_text() == "4"


def test_a_message_to_a_crashed_actor_is_not_queued_for_its_successor(tree, clock):
    """The typed failure tells the caller to retry; nothing is silently delivered later."""
    t = tree(sup(probe("a"), backoff=Backoff(initial=1, jitter=0)))
    t.reg.tell("a", Crash())
    t.rec.wait_for("restarting", "a")
    with pytest.raises(ActorUnavailable):
        t.reg.ask("a", Whoami())
    clock.advance(1)
    t.rec.wait_for("restarted", "a")
    assert t.who("a").generation == 2


def test_requests_below_a_restarting_sub_supervisor_are_unavailable_not_unknown(tree, clock):
    t = tree(sup(probe("a"), subsup("g", probe("p")), backoff=Backoff(initial=1, jitter=0)))
    t.reg.tell("g", Crash())                   # the group waits for its restart
    t.rec.wait_for("restarting", "g")
    with pytest.raises(ActorUnavailable) as caught:
        t.ask(RestartChild("g/p"))
    assert caught.value.path == "g"
    assert t.ref.is_alive()
    clock.advance(1)
    t.rec.wait_for("restarted", "g")
    assert t.ask(RestartChild("g/p")) == "g/p"
