"""Validation of a quote request and the order it becomes; pure, no chain, no actor.

Each refusal is ``InvalidArgument`` with the request field at fault (google.rpc.BadRequest)
and a message saying what would be accepted.
"""

from __future__ import annotations

from dataclasses import dataclass


from chains.directory import ChainRef, Directory, TokenRef, UnknownName
from protocol import GaslessOrder, OrbitalOrder
from protocol.accounts import EVM, SOLANA
from runtime import InvalidArgument

from ._config import QuoterConfig
from ._messages import GetQuote
from chains import fields

__all__ = ["ParsedQuote", "build_order", "parse_address", "parse_amount", "parse_quote",
           "resolve_chain", "resolve_token"]

UINT256_LIMIT = 2**256


parse_amount = fields.amount      # re-exported: the quoter's public parsing helpers
parse_address = fields.address


def resolve_chain(directory: Directory, key: str, field: str) -> ChainRef:
    if not key:
        raise InvalidArgument(f"{field} is required (a chain name or chain id)", field=field)
    try:
        return directory.chain(key)
    except UnknownName as exc:
        raise InvalidArgument(str(exc), field=field) from None


def resolve_token(directory: Directory, chain: ChainRef, key: str, field: str) -> TokenRef:
    if not key:
        raise InvalidArgument(f"{field} is required (a symbol or address)", field=field)
    try:
        return directory.token(chain.name, key)
    except UnknownName as exc:
        raise InvalidArgument(str(exc), field=field) from None


@dataclass(frozen=True)
class ParsedQuote:
    origin: ChainRef
    destination: ChainRef
    token_in: TokenRef
    token_out: TokenRef
    amount: int
    user: str
    recipient: str
    slippage_bps: int


def parse_quote(req: GetQuote, directory: Directory, cfg: QuoterConfig) -> ParsedQuote:
    origin = resolve_chain(directory, req.origin_chain, "origin_chain")
    if origin.kind != EVM:
        raise InvalidArgument(f"{origin.name} is a Solana chain: Solana is a destination only "
                              "(an origin needs an escrow program, docs/solana.md)",
                              field="origin_chain")
    if not origin.settler:
        raise InvalidArgument(f"chain {origin.name} has no settler configured, so it cannot "
                              "be an origin chain", field="origin_chain")
    destination = resolve_chain(directory, req.destination_chain, "destination_chain")
    token_in = resolve_token(directory, origin, req.input_token, "input_token")
    token_out = resolve_token(directory, destination, req.output_token, "output_token")
    amount = parse_amount(req.input_amount, "input_amount")
    user = parse_address(req.user, "user")
    if destination.kind == SOLANA and not req.recipient:
        raise InvalidArgument(f"recipient is required when the destination is a Solana chain "
                              f"({destination.name}): the base58 wallet that receives "
                              f"{token_out.symbol} (the user's 0x address cannot)",
                              field="recipient")
    recipient = fields.account(req.recipient, destination.kind, "recipient") \
        if req.recipient else user
    slippage = cfg.default_slippage_bps if req.slippage_bps is None else req.slippage_bps
    if not 0 <= slippage <= cfg.max_slippage_bps:
        raise InvalidArgument(f"slippage_bps must be between 0 and {cfg.max_slippage_bps}",
                              field="slippage_bps")
    return ParsedQuote(origin, destination, token_in, token_out, amount, user, recipient,
                       slippage)


def build_order(q: ParsedQuote, min_output: int, nonce: int, now: int,
                cfg: QuoterConfig, permit2: bool = False) -> GaslessOrder:
    """The ERC-7683 order to sign: origin settler's domain (or, ``permit2``, Permit2's with
    the order as witness), deadlines from now."""
    swap = OrbitalOrder(q.token_in.address, q.amount, q.token_out.address, min_output,
                        q.recipient, q.destination.chain_id, q.destination.kind)
    return GaslessOrder(origin_settler=q.origin.settler, user=q.user, nonce=nonce,
                        origin_chain_id=q.origin.chain_id, open_deadline=now + cfg.open_window,
                        fill_deadline=now + cfg.fill_window, order=swap, permit2=permit2)
