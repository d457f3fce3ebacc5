"""GetQuote's signing form (docs/erc7683.md 3b): Permit2 when asked, or by default when the
user's allowance to Permit2 covers the input; the quote says which form it served, and the
typed data of either form is signed as served and verifies."""

from __future__ import annotations

import json

import grpc
import pytest
from eth_account import Account

from clients import field_violations
from orbital.v1 import quoter_pb2
from protocol import PERMIT2_ADDRESS, abi, parse_order_typed_data, recover_order_signer

ONE_USDC = 10**6


def _req(devnet_info, **kw) -> quoter_pb2.GetQuoteRequest:
    fields = dict(origin_chain="devnet-a", destination_chain="devnet-b", input_token="USDC",
                  output_token="USDC", input_amount=str(100 * ONE_USDC),
                  user=devnet_info.accounts[4].address)
    return quoter_pb2.GetQuoteRequest(**(fields | kw))


def _approve_permit2(chain, devnet_info, amount: int) -> None:
    user = devnet_info.accounts[4].address
    usdc = chain.w3.eth.contract(address=chain.info.contracts.tokens["USDC"].address, abi=abi("TestToken"))
    chain.send(usdc.functions.approve(PERMIT2_ADDRESS, amount), user)


def _signed_order(q, devnet_info):
    typed = json.loads(q.typed_data)
    order = parse_order_typed_data(q.typed_data)
    sig = Account.sign_typed_data(devnet_info.accounts[4].private_key, full_message=typed).signature
    assert recover_order_signer(order, bytes(sig)) == order.user
    return typed, order


def test_asked_forms_are_served(stub, chains, devnet_info):
    q = stub.GetQuote(_req(devnet_info, signing=quoter_pb2.SIGNING_FORM_PERMIT2))
    assert q.signing == quoter_pb2.SIGNING_FORM_PERMIT2
    typed, order = _signed_order(q, devnet_info)
    assert typed["primaryType"] == "PermitWitnessTransferFrom"
    assert typed["domain"] == {"name": "Permit2", "chainId": devnet_info.chains[0].chain_id,
                               "verifyingContract": PERMIT2_ADDRESS}
    assert typed["message"]["spender"] == devnet_info.chains[0].contracts.settler
    assert order.permit2 and q.order_id == "0x" + order.order_id.hex()
    q = stub.GetQuote(_req(devnet_info, signing=quoter_pb2.SIGNING_FORM_ORBITAL))
    assert q.signing == quoter_pb2.SIGNING_FORM_ORBITAL
    typed, order = _signed_order(q, devnet_info)
    assert typed["primaryType"] == "GaslessCrossChainOrder" and not order.permit2


def test_default_follows_the_allowance_to_permit2(stub, chains, devnet_info):
    chain = chains[0]
    # devnet users approve the settler, not Permit2: the Orbital form
    assert stub.GetQuote(_req(devnet_info)).signing == quoter_pb2.SIGNING_FORM_ORBITAL
    _approve_permit2(chain, devnet_info, 100 * ONE_USDC - 1)      # one unit short
    assert stub.GetQuote(_req(devnet_info)).signing == quoter_pb2.SIGNING_FORM_ORBITAL
    _approve_permit2(chain, devnet_info, 100 * ONE_USDC)          # covers the input
    q = stub.GetQuote(_req(devnet_info))
    assert q.signing == quoter_pb2.SIGNING_FORM_PERMIT2
    assert json.loads(q.typed_data)["primaryType"] == "PermitWitnessTransferFrom"
    # asking wins over the default
    assert stub.GetQuote(_req(devnet_info, signing=quoter_pb2.SIGNING_FORM_ORBITAL)).signing \
        == quoter_pb2.SIGNING_FORM_ORBITAL


def test_unknown_signing_form_names_the_field(stub, chains, devnet_info):
    with pytest.raises(grpc.RpcError) as exc:
        stub.GetQuote(_req(devnet_info, signing=7))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(exc.value)] == ["signing"]
