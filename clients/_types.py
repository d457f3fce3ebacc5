"""Plain Python views of the API messages: ints for amounts, datetimes, an enum for status.

Why not hand out the protobuf messages: amounts travel as decimal strings (uint256 does not fit
any proto scalar) and timestamps as Timestamp messages; every caller would convert them again.
The original message stays reachable as ``.raw`` for anything not mapped here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any

from orbital.v1 import intents_pb2, quoter_pb2

__all__ = ["IntentStatus", "TERMINAL", "Evidence", "Transition", "Intent", "IntentUpdate",
           "IntentPage", "Quote"]


class IntentStatus(enum.IntEnum):
    """The lifecycle of SPEC section 3; values equal the proto enum's."""

    UNSPECIFIED = 0
    PENDING = 1
    ASSIGNED = 2
    OPENED = 3
    FILLED = 4
    SETTLED = 5
    CANCELLED = 6
    EXPIRED = 7
    REFUNDED = 8
    FAILED = 9

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @classmethod
    def parse(cls, text: str | int | IntentStatus) -> IntentStatus:
        """``settled``, ``SETTLED``, ``INTENT_STATUS_SETTLED`` or 5."""
        if isinstance(text, int):
            return cls(text)
        name = str(text).strip().upper().removeprefix("INTENT_STATUS_")
        try:
            return cls[name]
        except KeyError:
            choices = ", ".join(s.name.lower() for s in cls if s)
            raise ValueError(f"unknown status {text!r} (one of {choices})") from None


TERMINAL = frozenset({IntentStatus.SETTLED, IntentStatus.CANCELLED, IntentStatus.EXPIRED,
                      IntentStatus.REFUNDED, IntentStatus.FAILED})


def _ts(msg: Any, name: str) -> datetime | None:
    if not msg.HasField(name):
        return None
    return getattr(msg, name).ToDatetime(tzinfo=UTC)


def _int(text: str) -> int:
    return int(text) if text else 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class Evidence:
    chain: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class Transition:
    version: int
    from_status: IntentStatus
    status: IntentStatus
    at: datetime | None
    reason: str
    evidence: Evidence | None
    solver: str
    finding: str = ""     # "conflicting_open", "foreign_fill", "shortfall", "escrow_mismatch",
                          # "not_executable", "no_session", "no_bids"

    @classmethod
    def from_pb(cls, msg: intents_pb2.Transition) -> Transition:
        ev = None
        if msg.HasField("evidence") and (msg.evidence.chain or msg.evidence.tx_hash):
            e = msg.evidence
            ev = Evidence(e.chain, e.block_number, e.block_hash, e.tx_hash, e.log_index)
        return cls(msg.version, IntentStatus(msg.from_status), IntentStatus(msg.status),
                   _ts(msg, "at"), msg.reason, ev, msg.solver, msg.finding)

    def to_json(self) -> dict:
        out = {"version": self.version, "from_status": self.from_status.name,
               "status": self.status.name, "at": _iso(self.at), "reason": self.reason,
               "solver": self.solver, "finding": self.finding}
        if self.evidence:
            out["evidence"] = dict(vars(self.evidence))
        return out


@dataclass(frozen=True)
class Intent:
    id: str
    status: IntentStatus
    user: str
    nonce: int
    origin_chain: str
    origin_chain_id: int
    destination_chain: str
    destination_chain_id: int
    origin_settler: str
    input_token: str
    input_amount: int
    output_token: str
    min_output_amount: int
    recipient: str
    open_deadline: datetime | None
    fill_deadline: datetime | None
    solver: str
    awarded_output_amount: int
    exclusivity_deadline: datetime | None
    history: tuple[Transition, ...]
    created_at: datetime | None
    updated_at: datetime | None
    version: int
    source: str
    filled_output_amount: int = 0   # delivered by the fill that proves FILLED
    shortfall_amount: int = 0       # below the winning bid, when the fill fell short
    raw: intents_pb2.Intent | None = field(repr=False, compare=False, default=None)

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @classmethod
    def from_pb(cls, m: intents_pb2.Intent) -> Intent:
        return cls(
            id=m.id, status=IntentStatus(m.status), user=m.user, nonce=_int(m.nonce),
            origin_chain=m.origin_chain, origin_chain_id=m.origin_chain_id,
            destination_chain=m.destination_chain, destination_chain_id=m.destination_chain_id,
            origin_settler=m.origin_settler, input_token=m.input_token,
            input_amount=_int(m.input_amount), output_token=m.output_token,
            min_output_amount=_int(m.min_output_amount), recipient=m.recipient,
            open_deadline=_ts(m, "open_deadline"), fill_deadline=_ts(m, "fill_deadline"),
            solver=m.solver, awarded_output_amount=_int(m.awarded_output_amount),
            exclusivity_deadline=_ts(m, "exclusivity_deadline"),
            history=tuple(Transition.from_pb(t) for t in m.history),
            created_at=_ts(m, "created_at"), updated_at=_ts(m, "updated_at"),
            version=m.version, source=m.source,
            filled_output_amount=_int(m.filled_output_amount),
            shortfall_amount=_int(m.shortfall_amount), raw=m)

    def to_json(self) -> dict:
        """JSON-ready dict; amounts as decimal strings (they may exceed 2**53)."""
        out: dict[str, Any] = {}
        for name, value in vars(self).items():
            if name == "raw":
                continue
            if name == "history":
                value = [t.to_json() for t in value]
            elif isinstance(value, IntentStatus):
                value = value.name
            elif isinstance(value, datetime):
                value = _iso(value)
            elif name in ("nonce", "input_amount", "min_output_amount", "awarded_output_amount",
                          "filled_output_amount", "shortfall_amount"):
                value = str(value)
            out[name] = value
        return out


@dataclass(frozen=True)
class IntentUpdate:
    """One WatchIntents message: the intent after ``transition`` (``snapshot``: its state
    when the watch started, with ``transition`` the last one it went through, if any)."""

    intent: Intent
    transition: Transition | None
    snapshot: bool

    @classmethod
    def from_pb(cls, m: intents_pb2.IntentUpdate) -> IntentUpdate:
        tr = Transition.from_pb(m.transition) if m.HasField("transition") else None
        return cls(Intent.from_pb(m.intent), tr, m.snapshot)

    def to_json(self) -> dict:
        return {"intent": self.intent.to_json(), "snapshot": self.snapshot,
                "transition": self.transition.to_json() if self.transition else None}


@dataclass(frozen=True)
class IntentPage:
    intents: tuple[Intent, ...]
    next_page_token: str


_SIGNING_NAMES = {quoter_pb2.SIGNING_FORM_ORBITAL: "orbital", quoter_pb2.SIGNING_FORM_PERMIT2: "permit2"}


@dataclass(frozen=True)
class Quote:
    quote_id: str
    output_amount: int
    min_output_amount: int
    fee_amount: int
    route: str
    gas_cost: int
    expires_at: datetime | None
    typed_data: str
    order_id: str
    input_token: str
    output_token: str
    signing: str = ""            # the form typed_data is in: "orbital" or "permit2"
    raw: quoter_pb2.Quote | None = field(repr=False, compare=False, default=None)

    @classmethod
    def from_pb(cls, m: quoter_pb2.Quote) -> Quote:
        return cls(m.quote_id, _int(m.output_amount), _int(m.min_output_amount),
                   _int(m.fee_amount), m.route, _int(m.gas_cost), _ts(m, "expires_at"),
                   m.typed_data, m.order_id, m.input_token, m.output_token,
                   _SIGNING_NAMES.get(m.signing, ""), raw=m)

    def to_json(self) -> dict:
        out = {k: v for k, v in vars(self).items() if k != "raw"}
        for k in ("output_amount", "min_output_amount", "fee_amount", "gas_cost"):
            out[k] = str(out[k])
        out["expires_at"] = _iso(self.expires_at)
        return out
