"""QuoterService through a real node on loopback, against the real devnet."""

from __future__ import annotations

import json

import grpc
import pytest
from eth_account import Account

from clients import field_violations
from orbital.v1 import quoter_pb2
from protocol import parse_order_typed_data, recover_order_signer

ONE_USDC, ONE_WETH = 10**6, 10**18


def quote_req(devnet_info, **kw) -> quoter_pb2.GetQuoteRequest:
    user = devnet_info.accounts[4]
    fields = dict(origin_chain="devnet-a", destination_chain="devnet-b", input_token="USDC",
                  output_token="WETH", input_amount=str(3000 * ONE_USDC), user=user.address)
    return quoter_pb2.GetQuoteRequest(**(fields | kw))


def sources(price: quoter_pb2.Price) -> dict[str, quoter_pb2.PriceSource]:
    return {s.name: s for s in price.sources}


def test_quote_signs_and_verifies(stub, chains, devnet_info):
    user = devnet_info.accounts[4]
    recipient = devnet_info.accounts[5].address
    q = stub.GetQuote(quote_req(devnet_info, recipient=recipient, slippage_bps=100))
    typed = json.loads(q.typed_data)
    sig = Account.sign_typed_data(user.private_key, full_message=typed).signature
    order = parse_order_typed_data(q.typed_data)
    assert recover_order_signer(order, bytes(sig)) == order.user
    a, b = devnet_info.chains
    assert order.user == user.address
    assert order.origin_chain_id == a.chain_id and order.origin_settler == a.contracts.settler
    assert order.order.input_token == a.contracts.tokens["USDC"].address == q.input_token
    assert order.order.output_token == b.contracts.tokens["WETH"].address == q.output_token
    assert order.order.input_amount == 3000 * ONE_USDC
    assert order.order.output_amount == int(q.min_output_amount)
    assert order.order.recipient == recipient
    assert order.order.destination_chain_id == b.chain_id
    assert q.order_id == "0x" + order.order_id.hex()
    assert int(q.min_output_amount) == int(q.output_amount) * 9900 // 10_000
    # fee = protocol fee (5 bps, rounded up) + gas; output ~ 1 WETH minus fees and pool fee
    assert int(q.fee_amount) == int(q.protocol_fee) + int(q.gas_cost)
    assert int(q.protocol_fee) == 3000 * ONE_USDC * 5 // 10_000
    assert 0.98 * ONE_WETH < int(q.output_amount) < ONE_WETH
    assert "pool:USDC/WETH@" in q.route
    now = chains[0].now()
    assert order.open_deadline > now and order.fill_deadline >= order.open_deadline
    assert q.expires_at.seconds > 0
    # a fresh nonce per quote
    q2 = stub.GetQuote(quote_req(devnet_info))
    assert json.loads(q2.typed_data)["message"]["nonce"] != typed["message"]["nonce"]


def test_cross_chain_same_token_is_a_transfer(stub, chains, devnet_info):
    q = stub.GetQuote(quote_req(devnet_info, output_token="USDC",
                                input_amount=str(100 * ONE_USDC)))
    assert "direct transfer" in q.route
    assert int(q.output_amount) == 100 * ONE_USDC - int(q.fee_amount)


@pytest.mark.parametrize("field,value,needle", [
    ("origin_chain", "mars", "unknown chain"),
    ("destination_chain", "999", "unknown chain"),
    ("input_token", "DOGE", "unknown token"),
    ("output_token", "0x000000000000000000000000000000000000dEaD", "unknown token"),
    ("output_token", "DAI", "unknown token"),          # DAI exists on devnet-a only
    ("input_amount", "0", "greater than 0"),
    ("input_amount", str(2**256), "below 2^256"),
    ("input_amount", "1.5", "decimal integer"),
    ("input_amount", "-5", "decimal integer"),
    ("user", "0x1234", "20-byte hex address"),
    ("user", "0x" + "0" * 40, "zero address"),
    ("recipient", "0xa0Cf798816D4b9b9866b5330EEa46a18382f251e", "checksum"),
    ("slippage_bps", 9999, "slippage_bps"),
    ("slippage_bps", 10_001, "slippage_bps"),
    ("recipient", "0x" + "0" * 40, "zero address"),
    ("user", "0x" + "a" * 1_000_000, "20-byte hex address"),
    ("origin_chain", "9" * 5000, "unknown chain"),      # over int()'s 4300 digits
    ("destination_chain", "\u00b2", "unknown chain"),   # a digit int() refuses
    ("input_token", "x" * 1_000_000, "unknown token"),
])
def test_refusals_name_the_field(stub, chains, devnet_info, field, value, needle):
    with pytest.raises(grpc.RpcError) as exc:
        stub.GetQuote(quote_req(devnet_info, **{field: value}))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in exc.value.details()
    assert [f for f, _ in field_violations(exc.value)] == [field]
    assert len(exc.value.details()) < 1000   # a huge input is quoted cut short


def test_amount_below_fee_is_refused(stub, chains, devnet_info):
    with pytest.raises(grpc.RpcError) as exc:
        stub.GetQuote(quote_req(devnet_info, input_amount="1"))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not cover the fee" in exc.value.details()
    assert field_violations(exc.value)[0][0] == "input_amount"


def test_price_median_of_all_sources(stub, chains):
    p = stub.GetPrice(quoter_pb2.GetPriceRequest(token="weth"))
    assert p.token == "WETH" and p.price == "3000"
    s = sources(p)
    assert all(s[n].used for n in ("feed:WETH/USD@devnet-a", "feed:WETH/USD@devnet-b",
                                   "pool:USDC/WETH@devnet-a", "pool:USDC/WETH@devnet-b"))
    assert not s["fallback"].used and s["fallback"].reason == "fallback: not needed"
    assert s["feed:WETH/USD@devnet-a"].updated_at.seconds > 0


def test_stale_feed_is_dropped(stub, chains):
    a = chains[0]
    a.feed_updated_at("WETH/USD", a.now() - 3600)        # max_staleness is 600 s
    p = stub.GetPrice(quoter_pb2.GetPriceRequest(token="WETH"))
    s = sources(p)
    stale = s["feed:WETH/USD@devnet-a"]
    assert not stale.used and stale.reason.startswith("stale: updated 3")
    assert s["feed:WETH/USD@devnet-b"].used and p.price == "3000"


def test_outlier_pool_is_dropped(stub, chains):
    a = chains[0]
    weth = a.info.contracts.tokens["WETH"].address
    a.swap(weth, 200 * ONE_WETH)                 # WETH much cheaper in pool a (~2070)
    p = stub.GetPrice(quoter_pb2.GetPriceRequest(token="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
                                                 chain="devnet-a"))
    s = sources(p)
    out = s["pool:USDC/WETH@devnet-a"]
    assert not out.used and out.reason.startswith("outlier:")
    assert float(out.price) < 2500
    assert p.price == "3000"
    assert all(s[n].used for n in ("feed:WETH/USD@devnet-a", "feed:WETH/USD@devnet-b",
                                   "pool:USDC/WETH@devnet-b"))


def test_outlier_feed_is_dropped(stub, chains):
    a = chains[0]
    a.send(a.feeds["WETH/USD"].functions.setAnswer(3500 * 10**8))
    s = sources(stub.GetPrice(quoter_pb2.GetPriceRequest(token="WETH")))
    assert not s["feed:WETH/USD@devnet-a"].used
    assert "outlier" in s["feed:WETH/USD@devnet-a"].reason


def test_no_usable_price_is_failed_precondition(stub, chains, devnet_info):
    with pytest.raises(grpc.RpcError) as exc:
        stub.GetPrice(quoter_pb2.GetPriceRequest(token="DAI"))
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not-a-feed: error" in exc.value.details()
    with pytest.raises(grpc.RpcError) as exc:
        stub.GetQuote(quote_req(devnet_info, input_token="DAI", destination_chain="devnet-a",
                                input_amount=str(10**20)))
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no usable price for DAI" in exc.value.details()


def test_fallback_when_every_source_is_dropped(stub, chains):
    a, b = chains
    for c in chains:
        c.feed_updated_at("WETH/USD", c.now() - 7200)
        c.swap(c.info.contracts.tokens["WETH"].address, 300 * ONE_WETH)
    s = stub.GetPrice(quoter_pb2.GetPriceRequest(token="WETH"))
    # both pools moved the same way: they agree with each other and stay in use
    assert {n for n, x in sources(s).items() if x.used} == {"pool:USDC/WETH@devnet-a",
                                                            "pool:USDC/WETH@devnet-b"}
    for c in chains:
        c.swap(c.info.contracts.tokens["USDC"].address, 10_000_000 * ONE_USDC)
    a.swap(a.info.contracts.tokens["WETH"].address, 2_000 * ONE_WETH)
    s = stub.GetPrice(quoter_pb2.GetPriceRequest(token="WETH"))
    used = {n for n, x in sources(s).items() if x.used}
    assert used == {"fallback"} and s.price == "3000"


def test_multi_hop_chosen_when_better(stub, chains, devnet_info, dai):
    a = chains[0]
    req = quote_req(devnet_info, destination_chain="devnet-a")
    direct = stub.GetQuote(req)
    assert direct.route == "USDC->WETH via pool:USDC/WETH@devnet-a"
    a.swap(a.info.contracts.tokens["WETH"].address, 300 * ONE_WETH, pool=dai["DAI/WETH"])
    hop = stub.GetQuote(req)
    assert hop.route == "USDC->DAI->WETH via pool:USDC/DAI@devnet-a, pool:DAI/WETH@devnet-a"
    assert int(hop.output_amount) > int(direct.output_amount)


def test_gas_follows_base_fee(stub, chains, devnet_info):
    a = chains[0]
    a.rpc("anvil_setNextBlockBaseFeePerGas", hex(100 * 10**9))
    a.rpc("evm_mine")
    high = stub.EstimateGas(quoter_pb2.EstimateGasRequest(chain="31337"))
    q_high = stub.GetQuote(quote_req(devnet_info))
    a.rpc("anvil_setNextBlockBaseFeePerGas", hex(10**9))
    a.rpc("evm_mine")
    low = stub.EstimateGas(quoter_pb2.EstimateGasRequest(chain="devnet-a"))
    q_low = stub.GetQuote(quote_req(devnet_info))
    assert high.chain == low.chain == "devnet-a"
    # the next block's base fee after an empty block at B is 7/8 B
    assert int(high.base_fee_wei) == 100 * 10**9 * 7 // 8
    assert int(low.base_fee_wei) == 10**9 * 7 // 8
    assert int(high.max_fee_wei) >= 2 * int(high.base_fee_wei)
    assert int(high.cost_wei) == (high.open_gas + high.fill_gas + high.settle_gas) \
        * int(high.max_fee_wei)
    assert int(q_high.gas_cost) > 10 * int(q_low.gas_cost)


def test_estimate_gas_unknown_chain(stub):
    with pytest.raises(grpc.RpcError) as exc:
        stub.EstimateGas(quoter_pb2.EstimateGasRequest(chain="nope"))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(exc.value)[0][0] == "chain"


@pytest.mark.parametrize("method, req, field, needle", [
    ("GetPrice", quoter_pb2.GetPriceRequest(token=""), "token", "token is required"),
    ("GetPrice", quoter_pb2.GetPriceRequest(token="0x" + "11" * 20), "chain",
     "chain is required"),
    ("GetPrice", quoter_pb2.GetPriceRequest(token="x" * 1_000_000), "token", "unknown token"),
    ("GetPrice", quoter_pb2.GetPriceRequest(token="WETH", chain="nope"), "chain",
     "unknown chain"),
    ("GetPrice", quoter_pb2.GetPriceRequest(token="DOGE", chain="devnet-a"), "token",
     "unknown token"),
    ("EstimateGas", quoter_pb2.EstimateGasRequest(chain=""), "chain", "chain is required"),
    ("EstimateGas", quoter_pb2.EstimateGasRequest(chain="9" * 5000), "chain", "unknown chain"),
    ("EstimateGas", quoter_pb2.EstimateGasRequest(chain="\u00b2"), "chain", "unknown chain"),
])
def test_price_and_gas_refusals_name_the_field(stub, method, req, field, needle):
    """Bad GetPrice/EstimateGas input is INVALID_ARGUMENT with the field, never INTERNAL,
    and the quoter keeps answering."""
    with pytest.raises(grpc.RpcError) as exc:
        getattr(stub, method)(req)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in exc.value.details() and len(exc.value.details()) < 1000
    assert [f for f, _ in field_violations(exc.value)] == [field]
    assert stub.GetPrice(quoter_pb2.GetPriceRequest(token="WETH")).price


def test_price_cache_short_ttl(node_factory, chains):
    node = node_factory(cache_ttl=600)
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
        from orbital.v1 import quoter_pb2_grpc
        stub = quoter_pb2_grpc.QuoterServiceStub(ch)
        first = stub.GetPrice(quoter_pb2.GetPriceRequest(token="WETH"))
        a = chains[0]
        a.send(a.feeds["WETH/USD"].functions.setAnswer(2900 * 10**8))
        again = stub.GetPrice(quoter_pb2.GetPriceRequest(token="WETH"))
        assert sources(again)["feed:WETH/USD@devnet-a"].price == \
            sources(first)["feed:WETH/USD@devnet-a"].price == "3000"


def test_quoter_down_is_unavailable(node_factory, devnet_info):
    node = node_factory()
    node.stop_actor("quoter")
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
        from orbital.v1 import quoter_pb2_grpc
        with pytest.raises(grpc.RpcError) as exc:
            quoter_pb2_grpc.QuoterServiceStub(ch).GetQuote(quote_req(devnet_info))
        assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


def test_reload_restarts_only_the_quoter(node_factory, chains, devnet_info):
    from pathlib import Path

    from orbital.v1 import quoter_pb2_grpc
    node = node_factory()
    assert node.reload().restarted == []                       # same file: nothing moves
    path = Path(node.config_path)
    path.write_text(path.read_text().replace("protocol_fee_bps: 5", "protocol_fee_bps: 7"))
    result = node.reload()
    assert result.restarted == ["quoter"] and not result.started and not result.stopped
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
        q = quoter_pb2_grpc.QuoterServiceStub(ch).GetQuote(quote_req(devnet_info))
    assert int(q.protocol_fee) == 3000 * ONE_USDC * 7 // 10_000
