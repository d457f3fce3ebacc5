"""The evidence rule: does this chain event (or escrow) prove a step of this intent, and if
not, why not. Pure: no store, no actor, no RPC; one place for everyone who moves money on
the strength of chain events (the intent book, the attester, the reference and in-house
solvers), so that they can never judge one event two ways.

An intent is judged by its :class:`Terms`: the order as the user signed it (or, for an order
opened only on chain, as its own ``Open`` says), plus where it must happen (origin and
destination settlers and chains), and, for fills, the amount the winning solver bid.

What proves what (docs/attester.md, "The evidence rule"):

- **Open**: emitted by the intent's origin settler on its origin chain, for its order id,
  and carrying *exactly* the signed terms: user, deadlines, input token and amount, output
  token, minimum and recipient, destination chain, destination settler and the originData
  those terms encode. The nonce is covered by the order id (keccak of origin chain, settler,
  user and nonce: same id, settler, chain and user means same nonce). Same order id, other
  terms: a *conflicting open* (``Finding.CONFLICTS``) - the user signed two orders with one
  nonce, and the chain holds the other one.
- **Fill**: emitted by the configured destination settler on the destination chain, for the
  order id, with the *fill key* of the escrow's originData (keccak256 of it: the only fill
  the origin repays), paying the recipient at least the minimum in the output token, before
  fillDeadline (checked when the block's timestamp is known; the settler itself refuses a
  later fill of that key). Same order id, other fill key: a *foreign fill*, never settled.
  A proving fill below the awarded amount carries a ``shortfall``.
- **Settle** / **Refund**: emitted by the origin settler on the origin chain for the order
  id, moving the escrowed input token and amount (to the filler, back to the user).
- **NonceInvalidated**: the origin settler, the intent's user and nonce (gasless only).

Anything else (another chain, another contract, another order id) is ``UNRELATED``: not
evidence about this intent at all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocol._fast import to_checksum_address
from protocol.erc7683 import FillData, GaslessOrder, ResolvedOrder, bytes32_to_address
from protocol.logs import EventRecord, Filled, NonceInvalidated, Open, Refunded, Settled

__all__ = ["Escrow", "Finding", "Located", "Step", "Terms", "Verdict", "judge", "judge_escrow",
           "MAX_MISMATCH_REASON"]

MAX_MISMATCH_REASON = 1024
"""Characters of the reason a solver reports for an escrow that does not match its award
(SolverService ``escrow_mismatch.reason``): the solver cuts its own to this, the node refuses
a longer one."""


class Step(str, enum.Enum):
    OPEN = "open"
    FILL = "fill"
    SETTLE = "settle"
    REFUND = "refund"
    NONCE_INVALIDATED = "nonce_invalidated"


class Finding(str, enum.Enum):
    PROVES = "proves"          # the event is this intent's step
    CONFLICTS = "conflicts"    # same order id, other terms (conflicting open, foreign fill)
    UNRELATED = "unrelated"    # not about this intent (other chain, contract or order id)


@dataclass(frozen=True, slots=True)
class Located:
    """A typed event and where it was seen: ``emitter`` is the contract that emitted the
    log; ``block_timestamp`` is known only to readers that fetched the block's header."""

    chain_id: int
    emitter: str
    event: EventRecord
    block_number: int = 0
    block_hash: str = ""
    tx_hash: str = ""
    log_index: int = 0
    block_timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class Terms:
    """An intent as the chain must carry it out. Addresses checksummed, ids as bytes."""

    order_id: bytes
    user: str
    nonce: int | None                 # None: opened on chain (Open does not carry it)
    origin_chain_id: int
    origin_settler: str
    destination_chain_id: int
    destination_settler: str
    input_token: str
    input_amount: int
    output_token: str
    min_output: int
    recipient: str
    open_deadline: int
    fill_deadline: int

    @property
    def fill_data(self) -> FillData:
        return FillData(self.order_id, self.origin_chain_id, self.destination_chain_id,
                        self.output_token, self.min_output, self.recipient, self.fill_deadline)

    @property
    def origin_data(self) -> bytes:
        """The FillInstruction's originData an escrow of these terms carries."""
        return self.fill_data.encode()

    @property
    def fill_key(self) -> bytes:
        """keccak256(originData): the one fill of this order the origin repays."""
        return self.fill_data.fill_key

    @classmethod
    def from_order(cls, order: GaslessOrder, destination_settler: str) -> Terms:
        """Terms of a signed gasless order, filled at ``destination_settler``."""
        o = order.order
        return cls(order.order_id, order.user, order.nonce, order.origin_chain_id,
                   order.origin_settler, o.destination_chain_id,
                   to_checksum_address(destination_settler), o.input_token, o.input_amount,
                   o.output_token, o.output_amount, o.recipient, order.open_deadline,
                   order.fill_deadline)

    @classmethod
    def from_open(cls, seen: Located) -> Terms:
        """The terms an ``Open`` carries (an order opened on chain, or a conflicting open):
        ``ValueError`` if it is not the shape Orbital's settler emits."""
        if not isinstance(seen.event, Open):
            raise ValueError(f"not an Open event: {type(seen.event).__name__}")
        r = seen.event.resolved
        if len(r.max_spent) != 1 or len(r.min_received) != 1 or len(r.fill_instructions) != 1:
            raise ValueError("an Orbital Open has exactly one maxSpent, minReceived and "
                             "fillInstruction")
        spent, received, instr = r.max_spent[0], r.min_received[0], r.fill_instructions[0]
        return cls(bytes(r.order_id), r.user, None, r.origin_chain_id,
                   to_checksum_address(seen.emitter), instr.destination_chain_id,
                   bytes32_to_address(instr.destination_settler), received.token_address,
                   received.amount, spent.token_address, spent.amount,
                   spent.recipient_address, r.open_deadline, r.fill_deadline)


@dataclass(frozen=True, slots=True)
class Escrow:
    """``escrows(orderId)`` on the origin settler: what an opened order actually holds."""

    status: int          # 0 None, 1 Opened, 2 Settled, 3 Refunded
    user: str
    fill_deadline: int
    input_token: str
    input_amount: int
    filler: str          # chosen at open (zero address for on-chain opens)
    fill_key: bytes

    STATUS = ("none", "opened", "settled", "refunded")

    @property
    def status_name(self) -> str:
        return self.STATUS[self.status] if 0 <= self.status < 4 else str(self.status)


@dataclass(frozen=True, slots=True)
class Verdict:
    finding: Finding
    step: Step | None = None
    reasons: tuple[str, ...] = ()     # what differs (CONFLICTS) or why unrelated
    shortfall: int = 0                # proving fill below the awarded amount: by how much
    amount: int = 0                   # fill: amount delivered; settle/refund: amount moved

    @property
    def proves(self) -> bool:
        return self.finding is Finding.PROVES

    @property
    def conflicting_open(self) -> bool:
        return self.finding is Finding.CONFLICTS and self.step is Step.OPEN

    @property
    def foreign_fill(self) -> bool:
        return self.finding is Finding.CONFLICTS and self.step is Step.FILL

    @property
    def why(self) -> str:
        return "; ".join(self.reasons)


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _where(terms: Terms, seen: Located, step: Step, chain_id: int, contract: str,
           what: str) -> Verdict | None:
    """UNRELATED unless ``seen`` comes from ``contract`` on ``chain_id`` for this order."""
    if seen.chain_id != chain_id:
        return Verdict(Finding.UNRELATED, step, (f"on chain {seen.chain_id}, not the {what} "
                                                 f"chain {chain_id}",))
    if not _same(seen.emitter, contract):
        return Verdict(Finding.UNRELATED, step, (f"emitted by {seen.emitter}, not the {what} "
                                                 f"settler {contract}",))
    oid = getattr(seen.event, "order_id", None)
    if oid is not None and bytes(oid) != terms.order_id:
        return Verdict(Finding.UNRELATED, step, (f"for order {_hex(oid)}, not "
                                                 f"{_hex(terms.order_id)}",))
    return None


def judge(terms: Terms, seen: Located, *, awarded: int = 0) -> Verdict:
    """What ``seen`` proves about the intent of ``terms``; ``awarded`` is the winning bid
    (0 when none: an order opened on chain, or before an auction)."""
    ev = seen.event
    if isinstance(ev, Open):
        return _open(terms, seen, ev)
    if isinstance(ev, Filled):
        return _fill(terms, seen, ev, awarded)
    if isinstance(ev, (Settled, Refunded)):
        return _release(terms, seen, ev)
    if isinstance(ev, NonceInvalidated):
        return _nonce(terms, seen, ev)
    return Verdict(Finding.UNRELATED, None, (f"{type(ev).__name__} is not an intent event",))


def _diff(out: list[str], name: str, on_chain, signed) -> None:
    if isinstance(on_chain, str) and isinstance(signed, str):
        if not _same(on_chain, signed):
            out.append(f"{name} {on_chain} on chain, {signed} signed")
    elif on_chain != signed:
        out.append(f"{name} {on_chain} on chain, {signed} signed")


def _open(terms: Terms, seen: Located, ev: Open) -> Verdict:
    gone = _where(terms, seen, Step.OPEN, terms.origin_chain_id, terms.origin_settler, "origin")
    if gone is not None:
        return gone
    r: ResolvedOrder = ev.resolved
    diffs: list[str] = []
    if bytes(r.order_id) != terms.order_id:
        diffs.append(f"resolvedOrder.orderId {_hex(r.order_id)} is not the event's "
                     f"{_hex(ev.order_id)}")
    _diff(diffs, "user", r.user, terms.user)
    _diff(diffs, "originChainId", r.origin_chain_id, terms.origin_chain_id)
    _diff(diffs, "openDeadline", r.open_deadline, terms.open_deadline)
    _diff(diffs, "fillDeadline", r.fill_deadline, terms.fill_deadline)
    if len(r.max_spent) != 1 or len(r.min_received) != 1 or len(r.fill_instructions) != 1:
        diffs.append(f"{len(r.max_spent)} maxSpent, {len(r.min_received)} minReceived and "
                     f"{len(r.fill_instructions)} fillInstructions (Orbital orders have one each)")
        return Verdict(Finding.CONFLICTS, Step.OPEN, tuple(diffs))
    spent, received, instr = r.max_spent[0], r.min_received[0], r.fill_instructions[0]
    try:
        _diff(diffs, "outputToken", spent.token_address, terms.output_token)
        _diff(diffs, "recipient", spent.recipient_address, terms.recipient)
        _diff(diffs, "inputToken", received.token_address, terms.input_token)
        _diff(diffs, "destinationSettler", bytes32_to_address(instr.destination_settler),
              terms.destination_settler)
    except ValueError as exc:   # a bytes32 that is not a left-padded address
        diffs.append(str(exc))
    _diff(diffs, "outputAmount (minimum)", spent.amount, terms.min_output)
    _diff(diffs, "destinationChainId", spent.chain_id, terms.destination_chain_id)
    _diff(diffs, "inputAmount", received.amount, terms.input_amount)
    _diff(diffs, "minReceived.chainId", received.chain_id, terms.origin_chain_id)
    _diff(diffs, "fillInstruction.destinationChainId", instr.destination_chain_id,
          terms.destination_chain_id)
    if bytes(instr.origin_data) != terms.origin_data and not diffs:
        diffs.append("originData differs from the one the signed terms encode")
    if diffs:
        return Verdict(Finding.CONFLICTS, Step.OPEN, tuple(diffs))
    return Verdict(Finding.PROVES, Step.OPEN, amount=received.amount)


def _fill(terms: Terms, seen: Located, ev: Filled, awarded: int) -> Verdict:
    gone = _where(terms, seen, Step.FILL, terms.destination_chain_id,
                  terms.destination_settler, "destination")
    if gone is not None:
        return gone
    diffs: list[str] = []
    if bytes(ev.fill_key) != terms.fill_key:
        diffs.append(f"fill key {_hex(ev.fill_key)} is not the escrow's {_hex(terms.fill_key)} "
                     "(a fill of other originData)")
    if not _same(ev.recipient, terms.recipient):
        diffs.append(f"recipient {ev.recipient}, not {terms.recipient}")
    if not _same(ev.token, terms.output_token):
        diffs.append(f"token {ev.token}, not {terms.output_token}")
    if ev.origin_chain_id != terms.origin_chain_id:
        diffs.append(f"originChainId {ev.origin_chain_id}, not {terms.origin_chain_id}")
    if ev.amount < terms.min_output:
        diffs.append(f"amount {ev.amount} below the minimum {terms.min_output}")
    if seen.block_timestamp is not None and seen.block_timestamp > terms.fill_deadline:
        diffs.append(f"filled at {seen.block_timestamp}, after fillDeadline {terms.fill_deadline}")
    if diffs:
        return Verdict(Finding.CONFLICTS, Step.FILL, tuple(diffs), amount=ev.amount)
    short = awarded - ev.amount if awarded > ev.amount else 0
    reasons = (f"delivered {ev.amount}, {short} below the winning bid {awarded}",) if short else ()
    return Verdict(Finding.PROVES, Step.FILL, reasons, shortfall=short, amount=ev.amount)


def _release(terms: Terms, seen: Located, ev: Settled | Refunded) -> Verdict:
    step = Step.SETTLE if isinstance(ev, Settled) else Step.REFUND
    gone = _where(terms, seen, step, terms.origin_chain_id, terms.origin_settler, "origin")
    if gone is not None:
        return gone
    diffs: list[str] = []
    if isinstance(ev, Refunded) and not _same(ev.user, terms.user):
        diffs.append(f"refunded to {ev.user}, not the user {terms.user}")
    if not _same(ev.token, terms.input_token):
        diffs.append(f"token {ev.token}, not the escrowed {terms.input_token}")
    if ev.amount != terms.input_amount:
        diffs.append(f"amount {ev.amount}, not the escrowed {terms.input_amount}")
    if diffs:
        return Verdict(Finding.CONFLICTS, step, tuple(diffs), amount=ev.amount)
    return Verdict(Finding.PROVES, step, amount=ev.amount)


def _nonce(terms: Terms, seen: Located, ev: NonceInvalidated) -> Verdict:
    gone = _where(terms, seen, Step.NONCE_INVALIDATED, terms.origin_chain_id,
                  terms.origin_settler, "origin")
    if gone is not None:
        return gone
    if terms.nonce is None or not _same(ev.user, terms.user) or ev.nonce != terms.nonce:
        return Verdict(Finding.UNRELATED, Step.NONCE_INVALIDATED,
                       (f"nonce {ev.nonce} of {ev.user}, not this order's",))
    return Verdict(Finding.PROVES, Step.NONCE_INVALIDATED)


def judge_escrow(terms: Terms, escrow: Escrow) -> Verdict:
    """Does the escrow opened on chain hold exactly ``terms``? For a solver about to fill:
    the escrow is what it will be repaid from, and its fill key names the one fill the
    origin repays (which filler it names is the solver's own business: see
    ``solver``)."""
    if escrow.status != 1:
        return Verdict(Finding.UNRELATED, Step.OPEN, (f"escrow is {escrow.status_name}, not "
                                                      "opened",))
    diffs: list[str] = []
    _diff(diffs, "user", escrow.user, terms.user)
    _diff(diffs, "fillDeadline", escrow.fill_deadline, terms.fill_deadline)
    _diff(diffs, "inputToken", escrow.input_token, terms.input_token)
    _diff(diffs, "inputAmount", escrow.input_amount, terms.input_amount)
    if bytes(escrow.fill_key) != terms.fill_key:
        diffs.append(f"fill key {_hex(escrow.fill_key)} on chain, {_hex(terms.fill_key)} for "
                     "the awarded order (output token, minimum, recipient, destination or "
                     "fillDeadline differ)")
    if diffs:
        return Verdict(Finding.CONFLICTS, Step.OPEN, tuple(diffs), amount=escrow.input_amount)
    return Verdict(Finding.PROVES, Step.OPEN, amount=escrow.input_amount)
