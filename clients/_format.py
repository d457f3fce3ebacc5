"""Human-readable lines for the CLI (``--json`` bypasses all of this)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, UTC

from google.protobuf.timestamp_pb2 import Timestamp

from orbital.v1 import intents_pb2

from ._amounts import format_amount
from ._types import Intent, IntentUpdate, Quote, Transition

__all__ = ["explanation_lines", "intent_lines", "list_lines", "quote_lines", "table_lines",
           "transition_text", "update_line"]


def table_lines(rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    """``rows`` (the first is the header) as aligned text lines, columns two spaces apart,
    the columns numbered in ``right`` right-aligned (counts, amounts). The one table printer
    of every ``orbital`` command, so all of them read alike; trailing spaces are cut so a
    script splitting lines on whitespace sees no empty last field."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                      for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]


def _t(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def _amt(value: int, decimals: int | None) -> str:
    return f"{format_amount(value, decimals)} ({value} base units)" if decimals else str(value)


def quote_lines(q: Quote, decimals: int | None = None, out_decimals: int | None = None) -> list[str]:
    return [
        f"quote       {q.quote_id}",
        f"order id    {q.order_id}",
        f"route       {q.route}",
        f"output      {_amt(q.output_amount, out_decimals)}",
        f"min output  {_amt(q.min_output_amount, out_decimals)}  (signed as orderData.outputAmount)",
        f"fee         {_amt(q.fee_amount, decimals)}  (gas {_amt(q.gas_cost, decimals)})",
        f"expires     {_t(q.expires_at)}",
    ] + ([f"signing     {q.signing}" + ("  (Permit2 witness order: approve Permit2, not the settler)"
                                        if q.signing == "permit2" else "")] if q.signing else [])


def intent_lines(i: Intent) -> list[str]:
    lines = [
        f"intent      {i.id}",
        f"status      {i.status.name}  (version {i.version})",
        f"user        {i.user}  nonce {i.nonce}",
        f"route       {i.origin_chain} -> {i.destination_chain}",
        f"input       {i.input_amount} of {i.input_token}",
        f"min output  {i.min_output_amount} of {i.output_token} to {i.recipient}",
        f"deadlines   open {_t(i.open_deadline)}  fill {_t(i.fill_deadline)}",
    ]
    if i.solver:
        lines.append(f"solver      {i.solver}  output {i.awarded_output_amount}"
                     f"  exclusive until {_t(i.exclusivity_deadline)}")
    if i.filled_output_amount:
        short = f"  SHORTFALL {i.shortfall_amount}" if i.shortfall_amount else ""
        lines.append(f"filled      {i.filled_output_amount}{short}")
    for tr in i.history:
        lines.append("  " + transition_text(tr))
    return lines


def transition_text(tr: Transition) -> str:
    text = f"v{tr.version} {_t(tr.at)} {tr.from_status.name} -> {tr.status.name}"
    if tr.finding:
        text += f"  [{tr.finding.replace('_', ' ')}]"
    if tr.solver:
        text += f"  solver {tr.solver}"
    if tr.reason:
        text += f"  ({tr.reason})"
    if tr.evidence:
        e = tr.evidence
        text += f"  [{e.chain} block {e.block_number} tx {e.tx_hash}]"
    return text


def update_line(u: IntentUpdate) -> str:
    i = u.intent
    if u.snapshot or u.transition is None:
        return f"{i.id} {i.status.name} (v{i.version}, current state)"
    return f"{i.id} " + transition_text(u.transition)


def list_lines(intents) -> list[str]:
    rows = [("ID", "STATUS", "USER", "ROUTE", "INPUT", "MIN OUTPUT", "CREATED")]
    for i in intents:
        rows.append((i.id, i.status.name, i.user, f"{i.origin_chain}->{i.destination_chain}",
                     str(i.input_amount), str(i.min_output_amount), _t(i.created_at)))
    return table_lines(rows)


def _ts(value: Timestamp) -> str:
    if not value.seconds and not value.nanos:
        return "-"
    return _t(datetime.fromtimestamp(value.seconds + value.nanos / 1e9, UTC))


def explanation_lines(x: intents_pb2.IntentExplanation) -> list[str]:
    """``orbital explain``: the summary first (what a person reads), then the parts."""
    status = intents_pb2.IntentStatus.Name(x.status).removeprefix("INTENT_STATUS_")
    lines = [f"intent      {x.id}", f"status      {status}", f"why         {x.summary}"]
    if x.ended:
        lines.append(f"ended       {x.ended}" + (f"  ({x.ended_reason})" if x.ended_reason else ""))
    for r in x.rounds:
        head = f"round {r.round}  " + (f"open, closes {_ts(r.closes_at)}, {r.offered} offered"
                                       if r.open else f"winner {r.winner or '-'}")
        head += f", {r.bids_received} bid(s) received"
        lines.append(head)
        for b in r.bids:
            lost = f"  lost: {b.lost_because}" if b.lost_because else ""
            lines.append(f"  bid {b.solver} {b.amount} at {_ts(b.at)}{lost}")
    if x.HasField("exclusivity"):
        lines.append(f"exclusive   {x.exclusivity.holder} until {_ts(x.exclusivity.until)}")
    for w in x.chain_waits:
        lines.append(f"chain       {w.chain}: {w.confirmations}/{w.depth} confirmations "
                     f"({w.waits_for})")
    for a in x.admission:
        lines.append(f"admission   {a.check}")
        lines.append(f"  fix       {a.fix}")
    if x.HasField("eta"):
        lines.append(f"eta         p50 {x.eta.p50_seconds:.1f} s, p90 {x.eta.p90_seconds:.1f} s "
                     f"({x.eta.samples} on this route)")
    elif not x.ended:
        lines.append("eta         none: no finished intents on this route yet")
    return lines
