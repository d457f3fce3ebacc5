"""What the solver does with an award: open the user's order on the origin chain, check the
escrow against the award, then fill it on the destination chain from its own inventory.

Order of checks, and why: inventory first (opening an order it then cannot fill would lock the
user's input in escrow until fillDeadline); then ``openFor`` naming this solver as the filler;
then the escrow on chain judged against the award (:func:`protocol.evidence.judge_escrow`, the
one evidence rule); then ``fill`` delivering the awarded amount (the user's minimum or more,
via fillerData). Losing a race (another filler opened or filled first) is an expected
outcome, not an error: it is reported as ``lost`` and the solver moves on. An award for an
order this solver already opened (a re-delivered award after a reconnect) resumes at the
escrow check.

Why the escrow check, in every path: an order id names a user and a nonce, not terms. A user
can sign two orders with one nonce (A: 1,000 USDC in; B: 1 unit in, 1 out), submit A, and
front-run the winner's ``openFor(A)`` with ``openFor(B, originFillerData = the winner)``: the
winner's open reverts (OrderAlreadyOpened) and an escrow *naming it* sits under A's id, holding
B. Filling A's output against it would pay out ~990 USDC for a 1-unit repayment. So the solver
fills only an escrow that holds exactly the awarded terms (``Terms.from_order(order, the
configured destination settler)``), and fills it with the originData those terms encode, whose
keccak256 is the escrow's fill key (the one fill the origin repays), never with what a receipt
or a resolve call returned. Other terms: outcome ``mismatch``, reported to the node, not filled.

The node may void an award while it is queued or running (a ``Loss``: the order was opened on
chain with other terms, the user cancelled, exclusivity lapsed). The session sets the job's
:class:`Abort`, and the worker checks it right before ``openFor`` and right before ``fill``: a
transaction already sent is not recalled, but none is started after the Loss was read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from eth_abi import encode as abi_encode
from hexbytes import HexBytes

from protocol import GaslessOrder, ResolvedOrder, parse_order_typed_data
from protocol.accounts import EVM, account_to_bytes32
from protocol.evidence import MAX_MISMATCH_REASON, Terms, judge_escrow
from protocol.signatures import TypedDataError
from protocol.solana import MEMO_PROGRAM

from ._chain import EvmChain, TxResult
from ._solana import SolanaChain

__all__ = ["Abort", "AwardJob", "Executor", "MAX_MISMATCH_REASON", "Outcome"]

log = logging.getLogger("orbital.solver.execute")

LOST_OPEN = {"OrderAlreadyOpened", "NonceAlreadyUsed"}
LOST_FILL = {"OrderAlreadyFilled"}
OPENED = 1                   # Escrow.status: opened, not yet settled or refunded

Reporter = Callable[[str, str, str, str], None]   # (intent_id, chain id (decimal), tx hash, kind)
MismatchReporter = Callable[[str, str, str], None]   # (intent_id, origin chain id (decimal), reason)


class Abort:
    """Set (from the session thread) when the node voids an award that is queued or running;
    read by the award's worker right before each transaction. The first reason wins."""

    __slots__ = ("_reason",)

    def __init__(self) -> None:
        self._reason = ""

    def set(self, reason: str) -> None:
        if not self._reason:
            self._reason = reason or "award voided by the node"

    @property
    def is_set(self) -> bool:
        return bool(self._reason)

    @property
    def reason(self) -> str:
        return self._reason


@dataclass(frozen=True)
class AwardJob:
    intent_id: str
    typed_data: str
    signature: str
    output_amount: int
    exclusive_until: float = 0.0   # unix seconds; 0 = not given
    abort: Abort = field(default_factory=Abort, compare=False, repr=False)


@dataclass(frozen=True)
class Outcome:
    """``status``: filled | lost (another filler was faster) | mismatch (the escrow on chain
    does not hold the award: reported, not filled) | aborted (the node voided the award
    before the next transaction) | failed (see ``reason``)."""

    intent_id: str
    status: str
    reason: str = ""
    open_tx: str = ""
    fill_tx: str = ""
    amount: int = 0
    # Failed with no escrow opened under the award (checks before openFor, or openFor
    # reverted): the solver cannot execute it, so it declines the award (the node
    # re-auctions it at once instead of waiting out the exclusivity window).
    release: bool = False


def bounded(reason: str, limit: int = MAX_MISMATCH_REASON) -> str:
    """``reason`` cut to ``limit`` characters (the node refuses longer ones)."""
    return reason if len(reason) <= limit else reason[:limit - 1] + "\u2026"


def instruction_problem(resolved: ResolvedOrder | None, terms: Terms,
                        dest: EvmChain | SolanaChain) -> str | None:
    """Why the settler's resolved order is not the award's (None: it is): the fill instruction
    must target the configured destination settler (the node judges fills there; on Solana
    the Memo program) and carry exactly the originData the award's terms encode (the data the
    solver fills with)."""
    instruction = resolved.fill_instructions[0] if isinstance(resolved, ResolvedOrder) and \
        resolved.fill_instructions else None
    if instruction is None or instruction.destination_chain_id != dest.chain_id:
        return "resolved order has no fill instruction for the destination"
    if instruction.destination_settler != account_to_bytes32(terms.destination_settler):
        return "fill instruction names another destination settler"
    if bytes(instruction.origin_data) != terms.origin_data:
        return "fill instruction carries other originData than the award's terms encode"
    return None


@dataclass(frozen=True)
class _Plan:
    """An award that passed the checks before any transaction."""

    job: AwardJob
    order: GaslessOrder
    origin: EvmChain
    dest: EvmChain | SolanaChain
    terms: Terms          # what the escrow must hold: the signed order, at dest's settler
    amount: int           # what the recipient gets: the winning bid, at least the minimum


class Executor:
    """Runs awards (thread-safe: one EvmChain per chain, shared by the award workers).
    ``report`` gets each transaction sent (fill reports), ``mismatch`` each escrow found not
    holding its award (the node's EscrowMismatch)."""

    def __init__(self, chains: Mapping[int, EvmChain], address: str, report: Reporter | None = None,
                 mismatch: MismatchReporter | None = None,
                 solana: Mapping[int, SolanaChain] | None = None) -> None:
        self.chains = dict(chains)
        self.solana = dict(solana or {})
        self.address = address
        self.report = report if report is not None else (lambda *_: None)
        self.mismatch = mismatch if mismatch is not None else (lambda *_: None)

    def execute(self, job: AwardJob) -> Outcome:
        try:
            return self._execute(job)
        except Exception as exc:  # RPC down, receipt timeout: the award lapses; the node re-auctions
            log.warning("award %s failed: %s: %s", job.intent_id, type(exc).__name__, exc)
            return Outcome(job.intent_id, "failed", f"{type(exc).__name__}: {exc}")

    def _execute(self, job: AwardJob) -> Outcome:
        plan = self._plan(job)
        if isinstance(plan, Outcome):
            return plan
        if job.abort.is_set:
            return _done(job, "aborted", f"award voided before openFor: {job.abort.reason}")
        opened, resolved = plan.origin.open_for(plan.order, HexBytes(job.signature), self._repay_to)
        open_tx = opened.tx_hash
        if opened.ok:
            self.report(job.intent_id, str(plan.origin.chain_id), open_tx, "open")
        elif opened.error not in LOST_OPEN:
            return _done(job, "failed", f"openFor: {opened.error}", open_tx=open_tx, release=True)
        # Opened now, or already (a faster filler, an earlier delivery of this award, a
        # same-nonce substitution): the escrow decides.
        stop = self._verify(plan, opened)
        if stop is not None:
            return stop
        if not opened.ok:
            resolved = plan.origin.resolve_for(plan.order, self._repay_to)
        problem = instruction_problem(resolved, plan.terms, plan.dest)
        if problem is not None:
            return _done(job, "failed", problem, open_tx=open_tx)
        if job.abort.is_set:
            return _done(job, "aborted", f"award voided before the fill: {job.abort.reason}", open_tx=open_tx)
        return self._fill(plan, open_tx)

    def _plan(self, job: AwardJob) -> _Plan | Outcome:
        """Checks before any transaction: the award's order, its chains, exclusivity, inventory."""
        if job.exclusive_until and time.time() > job.exclusive_until:
            # Queued behind other awards past its exclusivity: the node re-auctions it, and
            # opening now would only race the next winner.
            return _done(job, "failed", "exclusivity lapsed before execution started")
        try:
            order = parse_order_typed_data(job.typed_data)
        except TypedDataError as exc:
            return _done(job, "failed", f"award typed data: {exc}", release=True)
        order_id = "0x" + order.order_id.hex()
        if order_id != job.intent_id.lower():
            return _done(job, "failed", f"award for {job.intent_id} carries order {order_id}", release=True)
        origin = self.chains.get(order.origin_chain_id)
        dest_id = order.order.destination_chain_id
        dest: EvmChain | SolanaChain | None = self.chains.get(dest_id) or self.solana.get(dest_id)
        if origin is None or dest is None:
            return _done(job, "failed", "award on a chain this solver does not serve", release=True)
        if (order.destination_kind == EVM) != isinstance(dest, EvmChain):
            return _done(job, "failed", f"award's order is for a {order.destination_kind} chain, "
                                        f"chain {dest_id} is not one", release=True)
        if isinstance(dest, SolanaChain):
            terms = Terms.from_order(order, MEMO_PROGRAM)
            if dest.recorded(order_id) is not None:
                # A fill of it was signed before (a retried award, a restart): follow that
                # one; the balance it already moved must not make the award look unfillable.
                return _Plan(job, order, origin, dest, terms, max(job.output_amount, terms.min_output))
        else:
            terms = Terms.from_order(order, dest.spec.settler)
        amount = max(job.output_amount, terms.min_output)
        have = dest.spendable(terms.output_token)
        if have < amount:
            return _done(job, "failed", f"inventory: {have} of {terms.output_token} on {dest.name}, "
                                        f"award needs {amount}", release=True)
        return _Plan(job, order, origin, dest, terms, amount)

    def _verify(self, plan: _Plan, opened: TxResult) -> Outcome | None:
        """The escrow under the award's order id, read after ``opened``, must name this solver
        and hold exactly the award's terms (None: it does, go on to the fill). Another filler:
        a lost race. Other terms: reported to the node, not filled."""
        job, origin, open_tx = plan.job, plan.origin, opened.tx_hash
        escrow = origin.escrow(plan.order.order_id)
        if escrow.status != OPENED or escrow.filler != self.address:
            if opened.ok:   # our openFor was mined, yet: a reorg, or an RPC that is behind
                return _done(job, "failed", f"escrow {escrow.status_name} by {escrow.filler} right "
                                            "after our openFor", open_tx=open_tx)
            return _done(job, "lost", f"{opened.error}: order {escrow.status_name} by {escrow.filler}",
                         open_tx=open_tx)
        # filler: an order to Solana is repaid only to the filler named at open (for EVM the
        # rule ignores it; the check above already holds for both)
        verdict = judge_escrow(plan.terms, escrow, filler=self.address)
        if verdict.proves:
            return None
        why = bounded(verdict.why)
        self.mismatch(job.intent_id, str(origin.chain_id), why)
        return _done(job, "mismatch", f"the escrow on {origin.name} does not hold the award: {why}",
                     open_tx=open_tx)

    def _fill(self, plan: _Plan, open_tx: str) -> Outcome:
        """``fill`` with the originData the award's terms encode, delivering ``plan.amount``."""
        if isinstance(plan.dest, SolanaChain):
            return self._fill_solana(plan, plan.dest, open_tx)
        job, dest, terms = plan.job, plan.dest, plan.terms
        filler_terms = (abi_encode(["address", "uint256"], [self.address, plan.amount])
                        if plan.amount > terms.min_output else self._repay_to)
        filled = dest.fill(terms.order_id, terms.origin_data, filler_terms)
        if filled.ok:
            self.report(job.intent_id, str(dest.chain_id), filled.tx_hash, "fill")
            return _done(job, "filled", open_tx=open_tx, fill_tx=filled.tx_hash, amount=plan.amount)
        if filled.error in LOST_FILL:
            by = dest.filled_by(terms.origin_data)
            if by == self.address:   # our earlier fill (re-delivered award)
                return _done(job, "filled", "already filled by this solver", open_tx=open_tx, amount=plan.amount)
            return _done(job, "lost", f"OrderAlreadyFilled by {by}", open_tx=open_tx, fill_tx=filled.tx_hash)
        return _done(job, "failed", f"fill: {filled.error}", open_tx=open_tx, fill_tx=filled.tx_hash)

    def _fill_solana(self, plan: _Plan, dest: SolanaChain, open_tx: str) -> Outcome:
        """One Solana transaction (recipient's token account created if missing, the awarded
        amount transferred, the order id as memo), confirmed, then reported as the fill."""
        job, terms = plan.job, plan.terms
        order_id = "0x" + terms.order_id.hex()
        filled = dest.fill(order_id, terms.recipient, terms.output_token, plan.amount,
                           terms.fill_deadline, may_send=lambda: job.abort.reason)
        if filled.ok:
            self.report(job.intent_id, str(dest.chain_id), filled.signature, "fill")
            return _done(job, "filled", "already filled by this solver" if filled.again else "",
                         open_tx=open_tx, fill_tx=filled.signature, amount=plan.amount)
        if job.abort.is_set and not filled.signature:
            return _done(job, "aborted", f"award voided before the fill: {job.abort.reason}", open_tx=open_tx)
        return _done(job, "failed", f"fill on {dest.name}: {filled.error}", open_tx=open_tx,
                     fill_tx=filled.signature)

    @property
    def _repay_to(self) -> bytes:
        """originFillerData (and the minimum's fillerData): this solver, repaid at settlement."""
        return abi_encode(["address"], [self.address])


def _done(job: AwardJob, status: str, reason: str = "", **kw) -> Outcome:
    log.info("award %s: %s %s", job.intent_id, status, reason)
    return Outcome(job.intent_id, status, reason, **kw)
