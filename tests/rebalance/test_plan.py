"""Pure planning (actors.rebalance._plan): band, direction, min/max, rounding."""

from __future__ import annotations

from fractions import Fraction

import pytest

from actors.rebalance import Move, in_band, plan, weights

HALF = {"a": 0.5, "b": 0.5}


def test_in_band_inclusive_edges_and_empty_inventory():
    assert in_band({"a": 55, "b": 45}, HALF, 0.05)          # exactly at the edge
    assert not in_band({"a": 56, "b": 44}, HALF, 0.05)
    assert in_band({"a": 0, "b": 0}, HALF, 0.05)            # nothing to spread
    d = plan({"a": 0, "b": 0}, HALF, 0.05)
    assert d.in_band and d.move is None


def test_decimal_targets_are_exact():
    # 0.1 + 0.2 as floats is 0.30000000000000004; as config decimals it is exactly 0.3
    assert in_band({"a": 1, "b": 2, "c": 7}, {"a": 0.1, "b": 0.2, "c": 0.7}, 0)


def test_richest_gives_to_poorest_and_amount_reaches_target():
    d = plan({"a": 900, "b": 100}, HALF, 0.05)
    assert not d.in_band
    assert d.move == Move("a", "b", 400)
    assert d.weights == {"a": 0.9, "b": 0.1}
    d = plan({"a": 100, "b": 900}, HALF, 0.05)
    assert d.move == Move("b", "a", 400)


def test_three_chains_one_move_bounded_by_smaller_side():
    # targets 600/300/100 of 1000: a +300, b -250, c -50 -> a gives 250 to b
    d = plan({"a": 900, "b": 50, "c": 50}, {"a": 0.6, "b": 0.3, "c": 0.1}, 0.01)
    assert d.move == Move("a", "b", 250)
    # after it: a 650, b 300, c 50 -> a gives 50 to c
    d = plan({"a": 650, "b": 300, "c": 50}, {"a": 0.6, "b": 0.3, "c": 0.1}, 0.01)
    assert d.move == Move("a", "c", 50)


def test_max_transfer_caps_and_min_transfer_blocks():
    assert plan({"a": 900, "b": 100}, HALF, 0.05, max_units=150).move == Move("a", "b", 150)
    assert "capped" in plan({"a": 900, "b": 100}, HALF, 0.05, max_units=150).reason
    d = plan({"a": 70, "b": 30}, HALF, 0.05, min_units=21)
    assert d.move is None and not d.in_band and "below min_transfer" in d.reason
    assert plan({"a": 70, "b": 30}, HALF, 0.05, min_units=20).move == Move("a", "b", 20)


def test_rounding_floors_to_base_units():
    # total 101 -> target 50.5 each; a holds 81: surplus 30.5 -> 30 (never more than surplus)
    assert plan({"a": 81, "b": 20}, HALF, 0.05).move == Move("a", "b", 30)
    # a third: 1/3 of 10 = 3.33..; c is 0 -> deficit 3.33.., a surplus 6.66.. -> 3
    d = plan({"a": 10, "b": 0, "c": 0}, {"a": Fraction(1, 3), "b": Fraction(1, 3),
                                         "c": Fraction(1, 3)}, 0.1)
    assert d.move == Move("a", "b", 3)
    # a needed move below one base unit is no move
    d = plan({"a": 2, "b": 1}, {"a": 0.5, "b": 0.5}, 0.1)
    assert d.move is None and "rounds to 0" in d.reason


def test_ties_are_deterministic_by_chain_name():
    d = plan({"b": 400, "a": 400, "c": 0, "d": 0}, {c: 0.25 for c in "abcd"}, 0.05)
    assert d.move == Move("a", "c", 200)


def test_zero_target_chain_drains():
    d = plan({"a": 100, "b": 0}, {"a": 0.0, "b": 1.0}, 0.0)
    assert d.move == Move("a", "b", 100)


def test_missing_balance_is_an_error():
    with pytest.raises(ValueError):
        plan({"a": 1}, HALF, 0.05)


def test_weights_sum_to_one():
    w = weights({"a": 1, "b": 2, "c": 3})
    assert abs(sum(w.values()) - 1) < 1e-12
