"""Messages of the ``quoter`` actor and its answers: the contract with QuoterService.

Requests carry the caller's raw strings: the actor validates them (one place, the same
rules whoever asks: the gRPC service, the intent book, the CLI's server side), and raises
``InvalidArgument(field=...)`` naming the request field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from chains.solana import FillCost

from ._gas import GasEstimate
from ._sources import Aggregate

__all__ = ["EstimateGas", "GetPrice", "GetQuote", "QuoteResult", "GasEstimate", "Aggregate",
           "ReferenceOutput", "ReferenceOutputs", "EstimateSolanaFill", "SolanaFillEstimate"]


@dataclass(frozen=True)
class GetQuote:
    origin_chain: str
    destination_chain: str
    input_token: str
    output_token: str
    input_amount: str
    user: str
    recipient: str = ""
    slippage_bps: int | None = None
    # The signing form to serve: "orbital", "permit2" (docs/erc7683.md 3b), or "" to let
    # the quoter choose (Permit2 when the user's allowance to Permit2 covers the input).
    signing: str = ""


@dataclass(frozen=True)
class ReferenceOutput:
    """Ask (the intent book, once per auctioned intent): the output the quoter expects for
    this swap now - GetQuote's ``output_amount``, after fees, before slippage - as the
    reference a bid is bounded by (``intents.max_bid_over_quote_bps``). Answer: an int;
    a swap the quoter cannot price raises as GetQuote would."""

    quote: GetQuote


@dataclass(frozen=True)
class ReferenceOutputs:
    """Ask (the intent book, once per message of its own that started auctions):
    :class:`ReferenceOutput` of each of ``quotes`` in one message, so a burst of new
    intents costs the quoter one wake-up, not one each. Answer: a list in the same order,
    per quote the int, or the typed error (an ``OrbitalError``) it would have raised."""

    quotes: tuple[GetQuote, ...]


@dataclass(frozen=True)
class GetPrice:
    """Answer: an :class:`Aggregate` with a price (else FAILED_PRECONDITION)."""

    token: str
    chain: str = ""


@dataclass(frozen=True)
class EstimateGas:
    """Answer: a :class:`GasEstimate`."""

    chain: str


@dataclass(frozen=True)
class EstimateSolanaFill:
    """Ask: what a solver's fill of ``token`` to wallet ``recipient`` on the Solana chain
    ``chain`` costs now, in lamports and in ``token`` (the fee a quote to that destination
    charges for it). ``chain``: a ``kind: solana`` chain's name; ``token``: a symbol or mint
    of that chain; ``recipient``: a base58 wallet; ``writes``: other accounts the fill
    write-locks (the solver's source token account), priced with the recipient's.
    Answer: a :class:`SolanaFillEstimate`. INVALID_ARGUMENT names the field at fault; no
    price for SOL or the token is FAILED_PRECONDITION; the chain not answering UNAVAILABLE."""

    chain: str
    token: str
    recipient: str
    writes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SolanaFillEstimate:
    cost: FillCost               # lamports, part by part, and where the price came from
    symbol: str                  # the token charged in
    mint: str
    decimals: int
    token_amount: int            # cost.lamports in base units of the token, rounded up
    sol_usd: Decimal
    token_usd: Decimal

    @property
    def lamports(self) -> int:
        return self.cost.lamports


@dataclass(frozen=True)
class QuoteResult:
    quote_id: str
    output_amount: int
    min_output_amount: int
    fee_amount: int
    protocol_fee: int
    gas_cost: int
    route: str
    expires_at: float            # unix seconds
    typed_data: str              # json.dumps(protocol.order_typed_data(order))
    order_id: str                # 0x hex
    input_token: str
    output_token: str
    nonce: int
    open_deadline: int
    fill_deadline: int
    signing: str = "orbital"     # the form typed_data is in: "orbital" or "permit2"
