"""``orbital.v1.QuoterService``: GetQuote, GetPrice, EstimateGas over the ``quoter`` actor.

The servicer only translates: protobuf in, an actor message (raw strings, validated by
the actor, so every caller gets the same refusals), protobuf out. The ask runs off the
event loop (``node.grpc.call``); a quoter that is not running is ``ActorUnavailable``,
which the status mapping turns into UNAVAILABLE (retryable).
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from orbital.v1 import quoter_pb2, quoter_pb2_grpc
from actors import QUOTER_PATH
from runtime.grpc import unary

from ._messages import EstimateGas, GetPrice, GetQuote
from ._sources import fmt_decimal

__all__ = ["QuoterServicer", "quoter_service", "ASK_TIMEOUT"]

ASK_TIMEOUT = 15.0
# SigningForm <-> the quoter's names ("" = unset: the quoter chooses; "?" = a value this
# version does not know, refused by the quoter with the field named)
_SIGNING_NAMES = {quoter_pb2.SIGNING_FORM_UNSPECIFIED: "", quoter_pb2.SIGNING_FORM_ORBITAL: "orbital",
                  quoter_pb2.SIGNING_FORM_PERMIT2: "permit2"}
_SIGNING_FORMS = {"orbital": quoter_pb2.SIGNING_FORM_ORBITAL, "permit2": quoter_pb2.SIGNING_FORM_PERMIT2}


def _ts(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


class QuoterServicer(quoter_pb2_grpc.QuoterServiceServicer):
    def __init__(self, node) -> None:
        self.node = node
        self.metrics = node.metrics

    async def _ask(self, message):
        return await self.node.registry.ask_async(QUOTER_PATH, message, ASK_TIMEOUT)

    @unary("QuoterService/GetQuote")
    async def GetQuote(self, request, context):
        r = await self._ask(GetQuote(
            origin_chain=request.origin_chain, destination_chain=request.destination_chain,
            input_token=request.input_token, output_token=request.output_token,
            input_amount=request.input_amount, user=request.user, recipient=request.recipient,
            slippage_bps=request.slippage_bps if request.HasField("slippage_bps") else None,
            signing=_SIGNING_NAMES.get(request.signing, "?")))
        return quoter_pb2.Quote(
            quote_id=r.quote_id, output_amount=str(r.output_amount),
            min_output_amount=str(r.min_output_amount), fee_amount=str(r.fee_amount),
            route=r.route, gas_cost=str(r.gas_cost), expires_at=_ts(r.expires_at),
            typed_data=r.typed_data, order_id=r.order_id, input_token=r.input_token,
            output_token=r.output_token, protocol_fee=str(r.protocol_fee),
            signing=_SIGNING_FORMS[r.signing])

    @unary("QuoterService/GetPrice")
    async def GetPrice(self, request, context):
        agg = await self._ask(GetPrice(token=request.token, chain=request.chain))
        sources = [quoter_pb2.PriceSource(
            name=s.name, price="" if s.price is None else fmt_decimal(s.price),
            updated_at=_ts(s.updated_at), used=s.used, reason=s.reason)
            for s in agg.sources]
        return quoter_pb2.Price(token=agg.symbol, price=fmt_decimal(agg.price),
                                sources=sources, updated_at=_ts(agg.updated_at))

    @unary("QuoterService/EstimateGas")
    async def EstimateGas(self, request, context):
        g = await self._ask(EstimateGas(chain=request.chain))
        return quoter_pb2.GasEstimate(
            chain=g.chain, base_fee_wei=str(g.base_fee_wei),
            priority_fee_wei=str(g.priority_fee_wei), max_fee_wei=str(g.max_fee_wei),
            open_gas=g.open_gas, fill_gas=g.fill_gas, settle_gas=g.settle_gas,
            cost_wei=str(g.cost_wei))


def quoter_service(node):
    name = quoter_pb2.DESCRIPTOR.services_by_name["QuoterService"].full_name
    return (name, quoter_pb2_grpc.add_QuoterServiceServicer_to_server, QuoterServicer(node))
