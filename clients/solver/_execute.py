"""What the solver does with an award: open the user's order on the origin chain, then fill
it on the destination chain from its own inventory.

Order of checks, and why: inventory first (opening an order it then cannot fill would lock the
user's input in escrow until fillDeadline); then ``openFor`` naming this solver as the filler;
then ``fill`` delivering the awarded amount (the user's minimum or more, via fillerData).
Losing a race (another filler opened or filled first) is an expected outcome, not an error:
it is reported as ``lost`` and the solver moves on. An award for an order this solver already
opened (a re-delivered award after a reconnect) resumes at the fill.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from hexbytes import HexBytes

from protocol import ResolvedOrder, address_to_bytes32, parse_order_typed_data
from protocol.signatures import TypedDataError

from ._chain import EvmChain

__all__ = ["AwardJob", "Executor", "Outcome"]

log = logging.getLogger("orbital.solver.execute")

LOST_OPEN = {"OrderAlreadyOpened", "NonceAlreadyUsed"}
LOST_FILL = {"OrderAlreadyFilled"}

Reporter = Callable[[str, str, str, str], None]   # (intent_id, chain id (decimal), tx hash, kind)


@dataclass(frozen=True)
class AwardJob:
    intent_id: str
    typed_data: str
    signature: str
    output_amount: int
    exclusive_until: float = 0.0   # unix seconds; 0 = not given


@dataclass(frozen=True)
class Outcome:
    """``status``: filled | lost (another filler was faster) | failed (see ``reason``)."""

    intent_id: str
    status: str
    reason: str = ""
    open_tx: str = ""
    fill_tx: str = ""
    amount: int = 0


class Executor:
    def __init__(self, chains: Mapping[int, EvmChain], address: str, report: Reporter | None = None) -> None:
        self.chains = dict(chains)
        self.address = address
        self.report = report if report is not None else (lambda *_: None)

    def execute(self, job: AwardJob) -> Outcome:
        try:
            return self._execute(job)
        except Exception as exc:  # RPC down, receipt timeout: the award lapses; the node re-auctions
            log.warning("award %s failed: %s: %s", job.intent_id, type(exc).__name__, exc)
            return Outcome(job.intent_id, "failed", f"{type(exc).__name__}: {exc}")

    def _execute(self, job: AwardJob) -> Outcome:
        def done(status: str, reason: str = "", **kw) -> Outcome:
            log.info("award %s: %s %s", job.intent_id, status, reason)
            return Outcome(job.intent_id, status, reason, **kw)

        if job.exclusive_until and time.time() > job.exclusive_until:
            # Queued behind other awards past its exclusivity: the node re-auctions it, and
            # opening now would only race the next winner.
            return done("failed", "exclusivity lapsed before execution started")
        try:
            order = parse_order_typed_data(job.typed_data)
        except TypedDataError as exc:
            return done("failed", f"award typed data: {exc}")
        order_id = "0x" + order.order_id.hex()
        if order_id != job.intent_id.lower():
            return done("failed", f"award for {job.intent_id} carries order {order_id}")
        origin = self.chains.get(order.origin_chain_id)
        dest = self.chains.get(order.order.destination_chain_id)
        if origin is None or dest is None:
            return done("failed", "award on a chain this solver does not serve")
        minimum = order.order.output_amount
        amount = max(job.output_amount, minimum)
        token = order.order.output_token
        have = dest.spendable(token)
        if have < amount:
            return done("failed", f"inventory: {have} of {token} on {dest.name}, award needs {amount}")

        # Origin: openFor, this solver as the filler to repay.
        repay_to = abi_encode(["address"], [self.address])
        opened, resolved = origin.open_for(order, HexBytes(job.signature), repay_to)
        open_tx = opened.tx_hash
        if opened.ok:
            self.report(job.intent_id, str(origin.chain_id), opened.tx_hash, "open")
        elif opened.error in LOST_OPEN:
            escrow = origin.escrow(order.order_id)
            if escrow.status != "opened" or escrow.filler != self.address:
                return done("lost", f"{opened.error}: order {escrow.status} by {escrow.filler}", open_tx=open_tx)
            resolved = origin.resolve_for(order, repay_to)   # ours, from an earlier delivery
        else:
            return done("failed", f"openFor: {opened.error}", open_tx=open_tx)

        # Destination: fill with the originData the settler resolved, delivering `amount`.
        instruction = resolved.fill_instructions[0] if isinstance(resolved, ResolvedOrder) else None
        if instruction is None or instruction.destination_chain_id != dest.chain_id:
            return done("failed", "resolved order has no fill instruction for the destination", open_tx=open_tx)
        if instruction.destination_settler != address_to_bytes32(dest.spec.settler):
            return done("failed", "fill instruction names another destination settler", open_tx=open_tx)
        fill_data = instruction.fill_data
        filler_terms = (abi_encode(["address", "uint256"], [self.address, amount]) if amount > fill_data.amount
                        else repay_to)
        filled = dest.fill(order.order_id, instruction.origin_data, filler_terms)
        if filled.ok:
            self.report(job.intent_id, str(dest.chain_id), filled.tx_hash, "fill")
            return done("filled", open_tx=open_tx, fill_tx=filled.tx_hash, amount=amount)
        if filled.error in LOST_FILL:
            by = dest.filled_by(instruction.origin_data)
            if by == self.address:   # our earlier fill (re-delivered award)
                return done("filled", "already filled by this solver", open_tx=open_tx, amount=amount)
            return done("lost", f"OrderAlreadyFilled by {by}", open_tx=open_tx, fill_tx=filled.tx_hash)
        return done("failed", f"fill: {filled.error}", open_tx=open_tx, fill_tx=filled.tx_hash)
