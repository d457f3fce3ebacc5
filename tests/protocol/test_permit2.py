"""The Permit2 signing form: typed data as served (eth_signTypedData_v4 ready), its digest by
hand equal to eth-account's, the canonical Permit2 strings, and the parser's refusals (each
naming the field at fault). The contract side (Permit2 itself, the settler's openFor) is
tests/contracts/test_permit2.py.
"""

from __future__ import annotations

import copy
import json

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (PERMIT2_ADDRESS, PERMIT2_SIGNATURE_TAG, WITNESS_TYPE_STRINGS, GaslessOrder,
                      OrbitalOrder, TypedDataError, order_digest, order_id, order_struct_hash,
                      order_typed_data, parse_order_typed_data, recover_order_signer)
from protocol.erc7683 import (PERMIT_TRANSFER_FROM_TYPEHASH, PERMIT_WITNESS_STUB,
                              PERMIT_WITNESS_TYPEHASHES, TOKEN_PERMISSIONS_TYPEHASH)
from tests import _eip712 as reference

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = "0x" + "07" * 32
USER = Account.from_key(KEY).address
SETTLER = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


def _order(kind: str = "evm", **kw) -> GaslessOrder:
    if kind == "evm":
        swap = OrbitalOrder(TOKEN, 100_000_000, TOKEN, 99_000_000, USER, 31338)
    else:
        swap = OrbitalOrder(TOKEN, 100_000_000, "So11111111111111111111111111111111111111112", 5,
                            WALLET, 900, "solana")
    fields = dict(origin_settler=SETTLER, user=USER, nonce=77, origin_chain_id=31337,
                  open_deadline=1795290778, fill_deadline=1795293778, order=swap, permit2=True)
    return GaslessOrder(**(fields | kw))


def test_canonical_permit2_strings():
    """The strings of the canonical Permit2 (Uniswap's PermitHash and EIP712), spelled out."""
    assert keccak(text="TokenPermissions(address token,uint256 amount)") == TOKEN_PERMISSIONS_TYPEHASH
    assert keccak(
        text="PermitTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline)"
             "TokenPermissions(address token,uint256 amount)") == PERMIT_TRANSFER_FROM_TYPEHASH
    assert PERMIT_WITNESS_STUB == ("PermitWitnessTransferFrom(TokenPermissions permitted,address spender,"
                                   "uint256 nonce,uint256 deadline,")
    assert PERMIT2_ADDRESS == "0x000000000022D473030F116dDEE9F6B43aC78BA3"
    for kind, witness in WITNESS_TYPE_STRINGS.items():
        assert witness.startswith("GaslessCrossChainOrder witness)GaslessCrossChainOrder(")
        assert witness.endswith(")TokenPermissions(address token,uint256 amount)")
        assert PERMIT_WITNESS_TYPEHASHES[kind] == keccak(text=PERMIT_WITNESS_STUB + witness)
    assert keccak(text="Orbital.Permit2Witness") == PERMIT2_SIGNATURE_TAG


@pytest.mark.parametrize("kind", ["evm", "solana"])
def test_typed_data_as_served_hashes_like_eth_account(kind):
    order = _order(kind)
    typed = json.loads(json.dumps(order_typed_data(order)))   # as served: JSON text
    assert typed["primaryType"] == "PermitWitnessTransferFrom"
    assert typed["domain"] == {"name": "Permit2", "chainId": 31337, "verifyingContract": PERMIT2_ADDRESS}
    assert typed["message"]["spender"] == SETTLER
    assert order_digest(order) == reference.typed_data_digest(typed)
    assert parse_order_typed_data(typed) == order
    signed = Account.sign_typed_data(KEY, full_message=typed)
    assert recover_order_signer(order, bytes(signed.signature)) == USER
    # the witness is the Orbital form's struct: same order id, a different digest
    orbital = _order(kind, permit2=False)
    assert order.order_id == orbital.order_id == order_id(31337, SETTLER, USER, 77)
    assert order_struct_hash(order) == order_struct_hash(orbital)
    assert order_digest(order) != order_digest(orbital)
    assert order.open_signature(b"\x01" * 65) == PERMIT2_SIGNATURE_TAG + b"\x01" * 65
    assert orbital.open_signature(b"\x01" * 65) == b"\x01" * 65


@SETTINGS
@given(nonce=st.integers(0, 2**256 - 1), amount=st.integers(1, 2**256 - 1),
       deadline=st.integers(0, 2**32 - 1))
def test_digest_property(nonce, amount, deadline):
    order = _order(nonce=nonce, open_deadline=deadline,
                   order=OrbitalOrder(TOKEN, amount, TOKEN, 1, USER, 31338))
    typed = order_typed_data(order)
    assert order_digest(order) == reference.typed_data_digest(typed)
    assert parse_order_typed_data(json.dumps(typed)) == order


def _refused(mutate) -> TypedDataError:
    typed = copy.deepcopy(order_typed_data(_order()))
    mutate(typed)
    with pytest.raises(TypedDataError) as err:
        parse_order_typed_data(typed)
    return err.value


@pytest.mark.parametrize("mutate, field", [
    # a wrong witness type string: the witness typed as another struct, or its type changed
    (lambda t: t["types"]["PermitWitnessTransferFrom"][4].update(type="OrbitalOrder"),
     "types.PermitWitnessTransferFrom"),
    (lambda t: t["types"]["GaslessCrossChainOrder"].pop(), "types.GaslessCrossChainOrder"),
    (lambda t: t["types"].update(Extra=[{"name": "x", "type": "uint256"}]), "types"),
    (lambda t: t["message"].update(spender="0x" + "12" * 20), "message.spender"),
    (lambda t: t["message"]["permitted"].update(amount="1"), "message.permitted.amount"),
    (lambda t: t["message"]["permitted"].update(token="0x" + "12" * 20), "message.permitted.token"),
    (lambda t: t["message"].update(nonce="78"), "message.nonce"),
    (lambda t: t["message"].update(deadline="1"), "message.deadline"),
    (lambda t: t["domain"].update(name="Orbital"), "domain.name"),
    (lambda t: t["domain"].update(version="1"), "domain.version"),
    (lambda t: t["domain"].update(verifyingContract=SETTLER), "domain.verifyingContract"),
    (lambda t: t["domain"].update(chainId=1), "domain.chainId"),
    (lambda t: t["message"]["witness"]["orderData"].update(inputAmount="x"),
     "message.witness.orderData.inputAmount"),
])
def test_refusals_name_the_field(mutate, field):
    assert _refused(mutate).field == field
