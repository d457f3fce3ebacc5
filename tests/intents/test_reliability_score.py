"""Solver reliability and the award ranking (``actors.book._score``) as tables: the score of
window counts, the rolling window on a FakeClock, the ranking of bids by output x
reliability (the Sybil cases), and when a mark suspends. No chain, no node."""

from __future__ import annotations

import pytest

from actors.book import AuctionBid, Window, rank, reliability, suspension
from runtime.testing import FakeClock

P = reliability({})    # the prior of a key with no history


@pytest.mark.parametrize("counts, want", [
    ({}, 3 / 4),                                    # a fresh key: neutral, not trusted
    ({"win": 5}, 3 / 4),                            # awards alone prove nothing
    ({"voided": 3}, 3 / 4),                         # a conflicting open is not its fault
    ({"open": 10}, 13 / 14),                        # proven
    ({"fade": 1}, 3 / 5),
    ({"decline": 1}, 3 / 4.5),                      # lighter than a fade
    ({"fade": 3}, 3 / 7),
    ({"decline": 3}, 3 / 5.5),
    ({"shortfall": 1}, 3 / 6),                      # a broken bid weighs double
    ({"foreign_fill": 1}, 3 / 6),
    ({"open": 10, "fade": 1}, 13 / 15),
])
def test_reliability_of_counts(counts, want):
    assert reliability(counts) == pytest.approx(want)


def test_a_decline_costs_less_than_a_fade_and_more_than_nothing():
    assert reliability({"fade": 1}) < reliability({"decline": 1}) < P


def bid(solver: str, amount: int, seq: int) -> AuctionBid:
    return AuctionBid(solver, f"session/{solver}", amount, seq, 0.0)


PROVEN = reliability({"open": 10})


@pytest.mark.parametrize("bids, scores, barred, order", [
    # equal scores: amount, then the earlier bid
    ([bid("a", 100, 1), bid("b", 101, 2)], {}, (), ["b", "a"]),
    ([bid("a", 100, 2), bid("b", 100, 1)], {}, (), ["b", "a"]),
    # a fresh key bidding a hair more does not beat a proven solver
    ([bid("proven", 1_000_000, 1), bid("fresh", 1_000_001, 2)], {"proven": PROVEN}, (),
     ["proven", "fresh"]),
    # nor at the default bound (+20 % over the quote) against a proven solver at the quote
    ([bid("proven", 1_000_000, 1), bid("sybil", 1_200_000, 2)], {"proven": PROVEN}, (),
     ["proven", "sybil"]),
    # a fresh key bidding 30 % more does win: new solvers are not locked out
    ([bid("proven", 1_000_000, 1), bid("fresh", 1_300_000, 2)], {"proven": PROVEN}, (),
     ["fresh", "proven"]),
    # a solver that let awards lapse ranks below a fresh one at the same bid
    ([bid("fader", 100, 1), bid("fresh", 100, 2)], {"fader": reliability({"fade": 2})}, (),
     ["fresh", "fader"]),
    # suspended since it bid: left out
    ([bid("a", 500, 1), bid("b", 100, 2)], {}, ("a",), ["b"]),
    ([], {}, (), []),
])
def test_rank(bids, scores, barred, order):
    assert [r.bid.solver for r in rank(bids, scores, frozenset(barred))] == order


def test_rank_is_exact_for_uint256_amounts():
    big = 2**255
    ranked = rank([bid("a", big, 1), bid("b", big + 1, 2)], {})
    assert [r.bid.solver for r in ranked] == ["b", "a"]
    assert ranked[0].weighted == (big + 1) * 750_000


def test_the_window_rolls():
    clock = FakeClock()
    w = Window(100.0)
    assert w.add(clock.wall(), "fade", "0x1")
    assert not w.add(clock.wall(), "fade", "0x1")      # once per kind and intent
    clock.advance(60)
    assert w.add(clock.wall(), "open", "0x2")
    assert w.reliability(clock.wall()) == pytest.approx(4 / 6)
    clock.advance(41)                                  # the fade is 101 s old: out
    assert w.reliability(clock.wall()) == pytest.approx(4 / 5)
    assert w.counts["fade"] == 0 and w.counts["open"] == 1
    assert w.add(clock.wall(), "fade", "0x1")          # may be marked again once expired
    clock.advance(100)                                 # exactly the window: still in
    assert w.reliability(clock.wall()) == pytest.approx(3 / 5)
    clock.advance(0.001)
    assert w.reliability(clock.wall()) == pytest.approx(P)
    with pytest.raises(ValueError):
        w.add(clock.wall(), "nonsense", "0x3")


NOW = 1_000.0


@pytest.mark.parametrize("score, kind, until, want", [
    (0.42, "fade", 0.0, NOW + 60),          # below the threshold after a bad mark
    (0.49, "decline", 0.0, NOW + 60),
    (0.50, "fade", 0.0, None),              # at the threshold: not below
    (0.42, "open", 0.0, None),              # a good mark never suspends
    (0.42, "win", 0.0, None),
    (0.42, "voided", 0.0, None),
    (0.30, "fade", NOW + 5, None),          # already suspended: not extended
    (0.30, "fade", NOW - 5, NOW + 60),      # an ended suspension: suspended again
])
def test_suspension(score, kind, until, want):
    assert suspension(score, kind, NOW, 0.5, 60.0, until) == want


def test_three_fades_of_a_fresh_key_suspend_it_at_the_default_threshold():
    w = Window(3600.0)
    scores = []
    for i in range(3):
        w.add(NOW, "fade", f"0x{i}")
        scores.append(w.reliability(NOW))
    assert [suspension(s, "fade", NOW, 0.5, 60.0, 0.0) for s in scores] == [None, None, NOW + 60]


def test_suspend_below_zero_never_suspends():
    assert suspension(0.0001, "fade", NOW, 0.0, 60.0, 0.0) is None
