"""Property: admission never refuses an order that ``openFor`` would accept (and accepts none
it would refuse), on the devnet, for balances, allowances and nonces around the boundary.

The verdict is asked of the running admission actor; the truth is an ``eth_call`` of
``openFor`` by the solver account at the same head (nothing is mined between the two).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from actors import ADMISSION_PATH
from actors.admission import CheckOrder

from .conftest import ONE_USDC, make_order, signed_request

_AROUND = st.integers(min_value=-2, max_value=2)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_admission_agrees_with_open_for(admission_node, chain_a):
    node, _ = admission_node()
    seen = iter(range(1, 10_000))

    @settings(max_examples=12, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(amount=st.integers(min_value=1, max_value=10**6 * ONE_USDC), db=_AROUND, da=_AROUND,
           burnt=st.booleans())
    @example(amount=100 * ONE_USDC, db=0, da=0, burnt=False)    # exactly enough: opens
    @example(amount=100 * ONE_USDC, db=0, da=-1, burnt=False)   # one unit short: does not
    def check(amount, db, da, burnt):
        user = chain_a.user(funded=max(0, amount + db), approved=max(0, amount + da))
        nonce = next(seen)
        if burnt:
            chain_a.send(chain_a.settler.functions.invalidateNonce(nonce), user.address)
        # an order SubmitIntent takes (every amount > 0): only admission is left to judge
        order = make_order(user, nonce=nonce, amount=amount, min_out=max(1, amount * 99 // 100))
        signature = signed_request(order, user.key.hex()).signature
        verdict = node.registry.ask(ADMISSION_PATH, CheckOrder(
            "devnet-a", order.user, order.order.input_token, order.origin_settler, amount, nonce))
        opens = chain_a.opens(order, signature)
        assert verdict.ok == opens, (verdict.reason(), opens)

    check()
