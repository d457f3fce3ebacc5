"""Is a signed order one the book may accept? Pure checks against config and time.

Runs in the gRPC worker threads before the book sees the order (so the book's thread
only does bookkeeping). Each refusal names the typed-data field at fault, so the client
gets a ``google.rpc.BadRequest`` field violation it can act on. Parsing (types, domain,
uint ranges) is :func:`protocol.parse_order_typed_data`; signatures are
:func:`protocol.recover_order_signer` (65 bytes, low s, v in {27, 28}).
"""

from __future__ import annotations

from chains.directory import Directory, UnknownName
from protocol.accounts import EVM, SOLANA, ChainKind
from protocol.erc7683 import GaslessOrder
from protocol.solana import SYSTEM_PROGRAM
from runtime import InvalidArgument

from ._config import IntentsConfig

__all__ = ["check_order", "message_path", "ZERO_ADDRESS"]

ZERO_ADDRESS = "0x" + "0" * 40


def message_path(order: GaslessOrder) -> str:
    """Where the order's fields are in its typed data: ``message`` (Orbital form) or
    ``message.witness`` (Permit2 form), so refusals name the field the user sent."""
    return "typed_data.message.witness." if order.permit2 else "typed_data.message."


_KIND_NAMES = {EVM: "an EVM chain", SOLANA: "a Solana chain"}


def type_name(kind: ChainKind) -> str:
    """The orderData type of orders to a chain of ``kind`` (docs/erc7683.md)."""
    return ("OrbitalOrder32 (outputToken and recipient as bytes32)" if kind == SOLANA
            else "OrbitalOrder (addresses)")


def check_order(order: GaslessOrder, directory: Directory, cfg: IntentsConfig, now: float) -> None:
    m = message_path(order)
    d = m + "orderData."
    try:
        origin = directory.chain_by_id(order.origin_chain_id)
    except UnknownName as exc:
        raise InvalidArgument(str(exc), field=m + "originChainId") from None
    if not origin.settler or origin.settler != order.origin_settler:
        raise InvalidArgument(f"originSettler {order.origin_settler} is not the settler of "
                              f"{origin.name} ({origin.settler or 'none configured'})",
                              field=m + "originSettler")
    o = order.order
    try:
        dest = directory.chain_by_id(o.destination_chain_id)
    except UnknownName as exc:
        raise InvalidArgument(str(exc), field=d + "destinationChainId") from None
    if origin.kind != EVM:
        raise InvalidArgument(f"{origin.name} is a Solana chain: Solana is a destination only",
                              field=m + "originChainId")
    if dest.kind != o.destination_kind:
        raise InvalidArgument(f"{dest.name} is {_KIND_NAMES[dest.kind]}: its orders are "
                              f"{type_name(dest.kind)}, not {type_name(o.destination_kind)}",
                              field=m + "orderDataType")
    if dest.chain_id == origin.chain_id:
        raise InvalidArgument("destinationChainId must differ from originChainId (cross-chain only)",
                              field=d + "destinationChainId")
    if not dest.settler:
        raise InvalidArgument(f"{dest.name} has no settler configured", field=d + "destinationChainId")
    for name, chain, token in (("inputToken", origin, o.input_token), ("outputToken", dest, o.output_token)):
        try:
            directory.token(chain.name, token)
        except UnknownName as exc:
            raise InvalidArgument(str(exc), field=d + name) from None
    for name, value in (("inputAmount", o.input_amount), ("outputAmount", o.output_amount)):
        if value <= 0:
            raise InvalidArgument(f"{name} must be greater than 0", field=d + name)
    if o.recipient in (ZERO_ADDRESS, SYSTEM_PROGRAM):
        raise InvalidArgument("recipient must not be the zero address", field=d + "recipient")
    if order.user == ZERO_ADDRESS:
        raise InvalidArgument("user must not be the zero address", field=m + "user")
    if order.open_deadline < now + cfg.min_open_window:
        what = "is in the past" if order.open_deadline <= now else \
            f"must be at least {cfg.min_open_window:g}s ahead"
        if order.permit2:   # the permit's deadline is openDeadline: name it too
            what += " (it is also the Permit2 deadline, message.deadline)"
        raise InvalidArgument(f"openDeadline {order.open_deadline} {what} (now {int(now)})",
                              field=m + "openDeadline")
    if order.fill_deadline < order.open_deadline:
        raise InvalidArgument("fillDeadline must not be before openDeadline", field=m + "fillDeadline")
    if order.fill_deadline > now + cfg.max_fill_window:
        raise InvalidArgument(f"fillDeadline is more than {cfg.max_fill_window:g}s ahead",
                              field=m + "fillDeadline")
