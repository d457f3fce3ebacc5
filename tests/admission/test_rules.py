"""The pure decision of admission: numbers read on chain -> verdict and message."""

from __future__ import annotations

import pytest

from actors.admission import ALLOWANCE, BALANCE, NONCE, Reading, decide

TOKEN, SETTLER, USER = "0x" + "aa" * 20, "0x" + "5e" * 20, "0x" + "0b" * 20


@pytest.mark.parametrize("balance, allowance, used, amount, failed", [
    (100, 100, False, 100, ()),                       # exactly enough: openFor succeeds
    (10**30, 2**256 - 1, False, 100, ()),             # unlimited approval
    (99, 100, False, 100, (BALANCE,)),
    (100, 99, False, 100, (ALLOWANCE,)),
    (0, 0, False, 100, (BALANCE, ALLOWANCE)),
    (100, 100, True, 100, (NONCE,)),
    (0, 0, True, 1, (BALANCE, ALLOWANCE, NONCE)),
    (2**256 - 1, 2**256 - 1, False, 2**256 - 1, ()),
])
def test_verdicts(balance, allowance, used, amount, failed):
    v = decide("devnet-a", Reading(7, balance, allowance, used), user=USER, token=TOKEN,
               settler=SETTLER, amount=amount, nonce=3)
    assert tuple(x.type for x in v.violations) == failed
    assert v.ok is (not failed) and v.block == 7


def test_messages_name_the_numbers_and_the_fix():
    v = decide("devnet-a", Reading(9, 5, 0, True), user=USER, token=TOKEN, settler=SETTLER,
               amount=100_000_000, nonce=42)
    by = {x.type: x for x in v.violations}
    assert by[BALANCE].subject == TOKEN
    assert by[BALANCE].description == (f"balance 5 < 100000000: fund {USER} with 99999995 more "
                                       f"of the input token {TOKEN}")
    assert by[ALLOWANCE].subject == TOKEN
    assert by[ALLOWANCE].description == (f"allowance 0 < 100000000: approve the settler {SETTLER} "
                                         f"for the input token {TOKEN} (at least 100000000)")
    assert by[NONCE].subject == SETTLER
    assert "nonce 42" in by[NONCE].description and "fresh nonce" in by[NONCE].description
    assert v.reason().startswith("not executable on devnet-a at block 9: balance 5 < 100000000")


def test_what_other_orders_hold_counts_against_the_balance_and_the_allowance():
    reading = Reading(3, 150, 150, False)
    alone = decide("devnet-a", reading, user=USER, token=TOKEN, settler=SETTLER, amount=100, nonce=1)
    assert alone.ok
    held = decide("devnet-a", reading, user=USER, token=TOKEN, settler=SETTLER, amount=100,
                  nonce=1, reserved=100, others=1)
    assert [v.type for v in held.violations] == [BALANCE, ALLOWANCE]
    assert held.violations[0].description == (
        f"balance 150 < 200 (100 for this order + 100 held by 1 other order(s) of this user "
        f"being auctioned or awarded): fund {USER} with 50 more of the input token {TOKEN}")
    assert decide("devnet-a", reading, user=USER, token=TOKEN, settler=SETTLER, amount=50,
                  nonce=1, reserved=100, others=1).ok


def test_permit2_form_names_permit2_for_the_allowance_and_its_bitmap_for_the_nonce():
    permit2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
    v = decide("devnet-a", Reading(9, 100, 0, False, True), user=USER, token=TOKEN,
               settler=SETTLER, amount=100, nonce=(5 << 8) | 3, permit2=permit2)
    by = {x.type: x for x in v.violations}
    assert by[ALLOWANCE].description == (f"allowance 0 < 100: approve Permit2 {permit2} for the "
                                         f"input token {TOKEN} (at least 100)")
    assert by[NONCE].subject == permit2 and "word 5, bit 3" in by[NONCE].description
    # the settler's own record of the nonce is named first (one NONCE violation)
    v = decide("devnet-a", Reading(9, 100, 100, True, True), user=USER, token=TOKEN,
               settler=SETTLER, amount=100, nonce=1, permit2=permit2)
    assert [(x.type, x.subject) for x in v.violations] == [(NONCE, SETTLER)]
    # the Orbital form ignores Permit2's bitmap
    v = decide("devnet-a", Reading(9, 100, 100, False, True), user=USER, token=TOKEN,
               settler=SETTLER, amount=100, nonce=1)
    assert v.ok
