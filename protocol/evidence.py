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
- **Fill on Solana** (an OrbitalOrder32 to a Solana chain: :class:`SplTransfer`): located on
  the destination chain id with the configured 32-byte destination (the SPL Memo program) as
  emitter; the memo carries the order id; the transfer's mint is exactly the output token,
  it lands in the recipient's associated token account for that mint, at least the minimum,
  not after fillDeadline (when the block time is known). A memo-tagged transfer of this order
  with another mint, recipient account, a lower amount or too late is a *foreign fill*
  (``CONFLICTS``), never settled. One fill per order: the first proving transfer in chain
  order is the fill (:func:`first_proving`), a later one is a gift, not a second fill.
- **Settle** / **Refund**: emitted by the origin settler on the origin chain for the order
  id, moving the escrowed input token and amount (to the filler, back to the user).
- **NonceInvalidated**: the origin settler, the intent's user and nonce (gasless only). The
  settler checks its ``usedNonces`` in ``openFor`` for both signing forms, so this cancels
  an order signed in either form.
- **UnorderedNonceInvalidation** (Permit2's): emitted by Permit2 (its canonical address) on
  the origin chain, ``owner`` the intent's user, ``word`` the nonce's word (``nonce >> 8``)
  and bit ``nonce & 0xff`` set in ``mask``; only for an order signed in the Permit2 form
  (``Terms.permit2``): the Orbital form's ``openFor`` never reads Permit2's bitmap, so a
  Permit2 invalidation does not stop it. One mask can burn several nonces of one word, so
  one event can cancel several intents of its owner.

Anything else (another chain, another contract, another order id) is ``UNRELATED``: not
evidence about this intent at all.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

from protocol._fast import to_checksum_address
from protocol.accounts import (EVM, SOLANA, ChainKind, account_to_bytes32, bytes32_to_account,
                               is_evm_address, parse_account)
from protocol.erc7683 import PERMIT2_ADDRESS, FillData, GaslessOrder, ResolvedOrder
from protocol.logs import (EventRecord, Filled, NonceInvalidated, Open, Refunded, Settled,
                           UnorderedNonceInvalidation)
from protocol.solana import associated_token_address

__all__ = ["Escrow", "Evidence", "Finding", "Located", "SplTransfer", "Step", "Terms", "Verdict",
           "first_proving", "judge", "judge_escrow", "MAX_MISMATCH_REASON"]

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


@dataclass(frozen=True, slots=True)
class SplTransfer:
    """An SPL token transfer on Solana tagged with an order id by an SPL Memo v2 instruction of
    the same transaction (the fill format of an OrbitalOrder32, docs/solana.md).

    ``order_id`` is the memo's order id (``0x`` + 64 hex, lower case, parsed by the reader);
    ``destination`` the token account credited and ``destination_owner`` its owner wallet
    (empty when the reader does not know it); ``source_owner`` the wallet that signed the
    transfer (the filler's Solana key: informative only, the escrow pays the filler named at
    open); ``signature`` the transaction's; ``block_time`` the block's unix time, None when
    unknown. Accounts in base58."""

    order_id: bytes
    mint: str
    destination: str
    destination_owner: str
    source_owner: str
    amount: int
    signature: str
    slot: int
    block_time: int | None = None


Evidence = Union[EventRecord, SplTransfer]
"""What a :class:`Located` may carry: an EVM contract event or a Solana memo-tagged transfer."""


class Finding(str, enum.Enum):
    PROVES = "proves"          # the event is this intent's step
    CONFLICTS = "conflicts"    # same order id, other terms (conflicting open, foreign fill)
    UNRELATED = "unrelated"    # not about this intent (other chain, contract or order id)


@dataclass(frozen=True, slots=True)
class Located:
    """A typed event and where it was seen: ``emitter`` is the contract that emitted the
    log (for an :class:`SplTransfer`: the memo program its order id was addressed to);
    ``block_timestamp`` is known only to readers that fetched the block's header. On Solana,
    ``block_number`` is the slot and ``log_index`` the transaction's position in the block
    (chain order, :func:`first_proving`)."""

    chain_id: int
    emitter: str
    event: Evidence
    block_number: int = 0
    block_hash: str = ""
    tx_hash: str = ""
    log_index: int = 0
    block_timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class Terms:
    """An intent as the chain must carry it out. Ids as bytes; origin accounts checksummed;
    ``output_token``, ``recipient`` and ``destination_settler`` are accounts of the destination
    chain, of ``destination_kind``: checksummed addresses (EVM), or base58 (Solana: the mint,
    the recipient's wallet and the SPL Memo program)."""

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
    destination_kind: ChainKind = EVM
    permit2: bool = False

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
        """Terms of a signed gasless order, filled at ``destination_settler`` (an EVM
        destination's settler address, or a Solana destination's configured 32-byte
        destination, the memo program, in base58)."""
        o = order.order
        kind = o.destination_kind
        settler = (to_checksum_address(destination_settler) if kind == EVM
                   else parse_account(destination_settler, kind))
        return cls(order.order_id, order.user, order.nonce, order.origin_chain_id,
                   order.origin_settler, o.destination_chain_id, settler, o.input_token,
                   o.input_amount, o.output_token, o.output_amount, o.recipient,
                   order.open_deadline, order.fill_deadline, kind, order.permit2)

    @classmethod
    def from_open(cls, seen: Located, destination_kind: ChainKind = EVM) -> Terms:
        """The terms an ``Open`` carries (an order opened on chain, or a conflicting open),
        its destination chain being of ``destination_kind`` (the caller knows it from the
        destination chain id's config; the Open's bytes32 words do not say): ``ValueError``
        if it is not the shape Orbital's settler emits or its words are not accounts of that
        kind."""
        if not isinstance(seen.event, Open):
            raise ValueError(f"not an Open event: {type(seen.event).__name__}")
        r = seen.event.resolved
        if len(r.max_spent) != 1 or len(r.min_received) != 1 or len(r.fill_instructions) != 1:
            raise ValueError("an Orbital Open has exactly one maxSpent, minReceived and "
                             "fillInstruction")
        spent, received, instr = r.max_spent[0], r.min_received[0], r.fill_instructions[0]
        k = destination_kind
        return cls(bytes(r.order_id), r.user, None, r.origin_chain_id,
                   to_checksum_address(seen.emitter), instr.destination_chain_id,
                   bytes32_to_account(instr.destination_settler, k), received.token_address,
                   received.amount, spent.token_account(k), spent.amount,
                   spent.recipient_account(k), r.open_deadline, r.fill_deadline, k)


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
    """Same account: EVM addresses in any case; anything else (base58) exactly."""
    if a == b:
        return True
    return is_evm_address(a) and is_evm_address(b) and a.lower() == b.lower()


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
                                                 f"{contract}",))
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
    if isinstance(ev, SplTransfer):
        return _spl_fill(terms, seen, ev, awarded)
    if isinstance(ev, (Settled, Refunded)):
        return _release(terms, seen, ev)
    if isinstance(ev, NonceInvalidated):
        return _nonce(terms, seen, ev)
    if isinstance(ev, UnorderedNonceInvalidation):
        return _permit2_nonce(terms, seen, ev)
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
    kind = terms.destination_kind
    _diff_word(diffs, "outputToken", spent.token, terms.output_token, kind)
    _diff_word(diffs, "recipient", spent.recipient, terms.recipient, kind)
    _diff_word(diffs, "inputToken", received.token, terms.input_token, EVM)
    _diff_word(diffs, "destinationSettler", instr.destination_settler, terms.destination_settler,
               kind)
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


def _diff_word(out: list[str], name: str, on_chain: bytes, signed: str, kind: ChainKind) -> None:
    """Compare a bytes32 word of the Open with an account of the terms, as words (exact for
    either kind); the reason shows the word as an account of ``kind`` when it is one."""
    if bytes(on_chain) == account_to_bytes32(signed):
        return
    try:
        shown = bytes32_to_account(bytes(on_chain), kind)
    except ValueError:   # e.g. a word that is not a left-padded address on an EVM chain
        shown = _hex(on_chain)
    out.append(f"{name} {shown} on chain, {signed} signed")


def _fill(terms: Terms, seen: Located, ev: Filled, awarded: int) -> Verdict:
    if terms.destination_kind != EVM:
        return Verdict(Finding.UNRELATED, Step.FILL, (f"a settler's Filled cannot fill an order "
                                                      f"to a {terms.destination_kind} chain",))
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


def _spl_fill(terms: Terms, seen: Located, ev: SplTransfer, awarded: int) -> Verdict:
    if terms.destination_kind != SOLANA:
        return Verdict(Finding.UNRELATED, Step.FILL, (f"an SPL transfer cannot fill an order to "
                                                      f"a {terms.destination_kind} chain",))
    gone = _where(terms, seen, Step.FILL, terms.destination_chain_id,
                  terms.destination_settler, "destination")
    if gone is not None:
        return gone
    diffs: list[str] = []
    if ev.mint != terms.output_token:
        diffs.append(f"mint {ev.mint}, not {terms.output_token}")
    account = associated_token_address(terms.recipient, terms.output_token)
    if ev.destination != account:
        diffs.append(f"credited {ev.destination}, not {account} (the associated token account "
                     f"of the recipient {terms.recipient} for {terms.output_token})")
    if ev.destination_owner and ev.destination_owner != terms.recipient:
        diffs.append(f"credited account owned by {ev.destination_owner}, not the recipient "
                     f"{terms.recipient}")
    if ev.amount < terms.min_output:
        diffs.append(f"amount {ev.amount} below the minimum {terms.min_output}")
    when = ev.block_time if ev.block_time is not None else seen.block_timestamp
    if when is not None and when > terms.fill_deadline:
        diffs.append(f"filled at {when}, after fillDeadline {terms.fill_deadline}")
    if diffs:
        return Verdict(Finding.CONFLICTS, Step.FILL, tuple(diffs), amount=ev.amount)
    short = awarded - ev.amount if awarded > ev.amount else 0
    reasons = (f"delivered {ev.amount}, {short} below the winning bid {awarded}",) if short else ()
    return Verdict(Finding.PROVES, Step.FILL, reasons, shortfall=short, amount=ev.amount)


def first_proving(terms: Terms, seens: Iterable[Located], *, awarded: int = 0,
                  step: Step = Step.FILL) -> tuple[Located, Verdict] | None:
    """The one event that is ``step`` of the intent: the first, in chain order, that PROVES
    it; None if none does.

    Why a rule here: on Solana nothing stops a second memo-tagged transfer to the recipient
    (an EVM destination settler refuses a second fill of one fill key, an SPL transfer has no
    such guard), so "one fill per order" is the readers' rule, and the book and the attester
    must pick the same one. Chain order is (``block_number``, ``log_index``) (slot and the
    transaction's position in the block on Solana), ties kept in the order given; events of
    other chains are judged UNRELATED and never chosen."""
    ordered = sorted(seens, key=lambda s: (s.block_number, s.log_index))
    for seen in ordered:
        verdict = judge(terms, seen, awarded=awarded)
        if verdict.proves and verdict.step is step:
            return seen, verdict
    return None


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


def _permit2_nonce(terms: Terms, seen: Located, ev: UnorderedNonceInvalidation) -> Verdict:
    gone = _where(terms, seen, Step.NONCE_INVALIDATED, terms.origin_chain_id, PERMIT2_ADDRESS,
                  "origin (Permit2)")
    if gone is not None:
        return gone
    if not terms.permit2:
        return Verdict(Finding.UNRELATED, Step.NONCE_INVALIDATED,
                       ("a Permit2 invalidation does not cancel an order signed in the Orbital "
                        "form (its openFor never reads Permit2's bitmap)",))
    if terms.nonce is None or not _same(ev.owner, terms.user) or not ev.covers(terms.nonce):
        return Verdict(Finding.UNRELATED, Step.NONCE_INVALIDATED,
                       (f"Permit2 word {ev.word} mask {ev.mask:#x} of {ev.owner}, not this "
                        "order's nonce",))
    return Verdict(Finding.PROVES, Step.NONCE_INVALIDATED)


def judge_escrow(terms: Terms, escrow: Escrow, *, filler: str | None = None) -> Verdict:
    """Does the escrow opened on chain hold exactly ``terms``? For a solver about to fill:
    the escrow is what it will be repaid from, and its fill key names the one fill the
    origin repays.

    ``filler``: the solver's own repayment address. For an order to an EVM chain which filler
    the escrow names is the solver's own business (the settler repays the address the
    destination's ``Filled`` names; see ``solver``). For an order to Solana it is not: the
    escrow pays only the filler named at open, so a solver must pass ``filler`` and fills
    only on PROVES; without it such an escrow is judged on its terms alone."""
    if escrow.status != 1:
        return Verdict(Finding.UNRELATED, Step.OPEN, (f"escrow is {escrow.status_name}, not "
                                                      "opened",))
    diffs: list[str] = []
    if filler is not None and terms.destination_kind != EVM and not _same(escrow.filler, filler):
        diffs.append(f"escrow pays the filler {escrow.filler}, not {filler} (an order to "
                     f"{terms.destination_kind} repays only the filler named at open)")
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
