"""On-chain cancellation of Permit2-form orders, as a table (docs/erc7683.md "On-chain
cancellation"): Permit2's ``UnorderedNonceInvalidation(owner, word, mask)`` cancels an order
signed in the Permit2 form exactly when it comes from Permit2 on the origin chain, names the
order's user, the nonce's word (``nonce >> 8``) and has the nonce's bit (``nonce & 0xff``)
set in the mask; never an order signed in the Orbital form. The settler's
``NonceInvalidated`` cancels both forms. What the book makes of it by status (terminal
intents untouched) is the book's pure ``decide``. No chain."""

from __future__ import annotations

import dataclasses

import pytest

from actors.book import IntentView, Status, decide
from protocol import PERMIT2_ADDRESS, GaslessOrder, OrbitalOrder
from protocol.evidence import Finding, Located, Step, Terms, judge
from protocol.logs import NonceInvalidated, UnorderedNonceInvalidation

SETTLER = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
OTHER = "0x000000000000000000000000000000000000dEaD"
USDC_A = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
USDC_B = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
USER = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"
RECIPIENT = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"
A, B = 31337, 31338
WORD, BIT = 5, 7
NONCE = (WORD << 8) | BIT          # bit 7 of word 5 of the user's Permit2 bitmap


def _order(permit2: bool, nonce: int = NONCE) -> GaslessOrder:
    return GaslessOrder(SETTLER, USER, nonce, A, 1_800_000_000, 1_800_003_600,
                        OrbitalOrder(USDC_A, 100_000_000, USDC_B, 99_000_000, RECIPIENT, B),
                        permit2=permit2)


PERMIT2_TERMS = Terms.from_order(_order(True), SETTLER)
KEY_TERMS = Terms.from_order(_order(False), SETTLER)      # signed in the Orbital form


def permit2_burnt(owner: str = USER, word: int = WORD, mask: int = 1 << BIT, *,
                  chain: int = A, emitter: str = PERMIT2_ADDRESS) -> Located:
    return Located(chain, emitter, UnorderedNonceInvalidation(owner, word, mask), 12,
                   "0x" + "aa" * 32, "0x" + "bb" * 32, 3)


def settler_burnt(user: str = USER, nonce: int = NONCE) -> Located:
    return Located(A, SETTLER, NonceInvalidated(user, nonce), 12, "0x" + "aa" * 32,
                   "0x" + "bb" * 32, 3)


def test_the_form_is_carried_from_the_signed_order():
    assert PERMIT2_TERMS.permit2 and not KEY_TERMS.permit2
    assert PERMIT2_TERMS.order_id == KEY_TERMS.order_id      # same order id in both forms


# (terms, event) -> finding
TABLE = [
    ("match", PERMIT2_TERMS, permit2_burnt(), Finding.PROVES),
    ("owner-any-case", PERMIT2_TERMS, permit2_burnt(USER.lower()), Finding.PROVES),
    ("other-owner", PERMIT2_TERMS, permit2_burnt(OTHER), Finding.UNRELATED),
    ("other-word", PERMIT2_TERMS, permit2_burnt(word=WORD + 1), Finding.UNRELATED),
    ("word-of-the-bit-number", PERMIT2_TERMS, permit2_burnt(word=BIT), Finding.UNRELATED),
    ("bit-not-in-mask", PERMIT2_TERMS, permit2_burnt(mask=1 << (BIT + 1)), Finding.UNRELATED),
    ("empty-mask", PERMIT2_TERMS, permit2_burnt(mask=0), Finding.UNRELATED),
    ("multi-bit-mask", PERMIT2_TERMS, permit2_burnt(mask=(1 << 0) | (1 << BIT) | (1 << 255)),
     Finding.PROVES),
    ("full-word", PERMIT2_TERMS, permit2_burnt(mask=2**256 - 1), Finding.PROVES),
    ("other-chain", PERMIT2_TERMS, permit2_burnt(chain=B), Finding.UNRELATED),
    ("not-permit2", PERMIT2_TERMS, permit2_burnt(emitter=OTHER), Finding.UNRELATED),
    ("from-the-settler", PERMIT2_TERMS, permit2_burnt(emitter=SETTLER), Finding.UNRELATED),
    ("key-signed-same-bits", KEY_TERMS, permit2_burnt(), Finding.UNRELATED),
    ("key-signed-full-word", KEY_TERMS, permit2_burnt(mask=2**256 - 1), Finding.UNRELATED),
    ("settler-cancels-permit2", PERMIT2_TERMS, settler_burnt(), Finding.PROVES),
    ("settler-cancels-key-signed", KEY_TERMS, settler_burnt(), Finding.PROVES),
    ("settler-other-nonce", PERMIT2_TERMS, settler_burnt(nonce=NONCE + 1), Finding.UNRELATED),
    ("settler-other-user", PERMIT2_TERMS, settler_burnt(OTHER), Finding.UNRELATED),
    ("opened-on-chain-no-nonce", dataclasses.replace(PERMIT2_TERMS, nonce=None),
     permit2_burnt(), Finding.UNRELATED),
]


@pytest.mark.parametrize("terms, seen, finding", [t[1:] for t in TABLE], ids=[t[0] for t in TABLE])
def test_what_an_invalidation_proves(terms, seen, finding):
    v = judge(terms, seen)
    assert v.finding is finding, v
    assert v.step is Step.NONCE_INVALIDATED
    assert bool(v.reasons) is (finding is Finding.UNRELATED)


def test_one_mask_cancels_every_order_of_its_bits_and_no_other():
    """Two Permit2 orders of one user in one word, a third in the next word: one mask of
    the two bits cancels exactly the two."""
    terms = {n: Terms.from_order(_order(True, n), SETTLER)
             for n in ((WORD << 8) | 3, (WORD << 8) | 200, ((WORD + 1) << 8) | 3)}
    seen = permit2_burnt(mask=(1 << 3) | (1 << 200))
    proved = sorted(n for n, t in terms.items() if judge(t, seen).proves)
    assert proved == [(WORD << 8) | 3, (WORD << 8) | 200]


def test_a_key_signed_order_says_why_a_permit2_invalidation_is_not_its_cancel():
    assert "Orbital form" in judge(KEY_TERMS, permit2_burnt()).why


def _view(terms: Terms, status: Status) -> IntentView:
    return IntentView(
        id="0x" + terms.order_id.hex(), status=status, version=3, user=terms.user,
        nonce=terms.nonce, origin_chain="a", origin_chain_id=terms.origin_chain_id,
        destination_chain="b", destination_chain_id=terms.destination_chain_id,
        origin_settler=terms.origin_settler, input_token=terms.input_token,
        input_amount=terms.input_amount, output_token=terms.output_token,
        min_output=terms.min_output, recipient=terms.recipient,
        open_deadline=terms.open_deadline, fill_deadline=terms.fill_deadline,
        source="permit2" if terms.permit2 else "gasless", created_at=0.0, updated_at=0.0)


S = Status
# (terms, event, status before) -> status after (None: nothing recorded)
BOOK = [
    (PERMIT2_TERMS, permit2_burnt(), S.PENDING, S.CANCELLED),
    (PERMIT2_TERMS, permit2_burnt(), S.ASSIGNED, S.CANCELLED),
    (PERMIT2_TERMS, settler_burnt(), S.PENDING, S.CANCELLED),
    (KEY_TERMS, permit2_burnt(), S.PENDING, None),
    (KEY_TERMS, permit2_burnt(), S.ASSIGNED, None),
    *[(PERMIT2_TERMS, ev, before, None)
      for ev in (permit2_burnt(), settler_burnt())
      for before in (S.OPENED, S.FILLED, S.SETTLED, S.REFUNDED, S.CANCELLED, S.EXPIRED,
                     S.FAILED)],
]


@pytest.mark.parametrize("terms, seen, before, after", BOOK,
                         ids=[f"{'permit2' if t.permit2 else 'key'}-{type(e.event).__name__}-"
                              f"{b.value}" for t, e, b, _ in BOOK])
def test_what_the_book_makes_of_it(terms, seen, before, after):
    d = decide(_view(terms, before), terms, seen, "0x" + "cd" * 32, "a")
    assert d.status is after, d
    assert bool(d.ignored) is (after is None)
    if after is S.CANCELLED and isinstance(seen.event, UnorderedNonceInvalidation):
        assert "Permit2" in d.reason and f"word {WORD}" in d.reason


def test_the_books_active_set_finds_every_intent_of_a_user():
    """The book looks an invalidation's intents up by user (one mask, several intents)."""
    from actors.book._open import OpenIntents
    views = {n: _view(Terms.from_order(_order(True, n), SETTLER), S.PENDING) for n in (1, 2, 3)}
    active = OpenIntents((v.id, v) for v in views.values())
    assert active.of_user(USER.lower()) == {v.id for v in views.values()}
    assert active.open_of(USER) == 3 and active.of_user(OTHER) == frozenset()
    active.pop(views[1].id)
    del active[views[2].id]
    assert active.of_user(USER) == {views[3].id} and active.open_of(USER) == 1
    active[views[3].id] = dataclasses.replace(views[3], user=OTHER)   # re-set under another user
    assert active.of_user(USER) == frozenset() and active.of_user(OTHER) == {views[3].id}
