"""``AdminService/DecideShortfall``: an operator's decision on a settlement held because its
fill delivered less than the winning bid (docs/attester.md, "Shortfalls").

The request is checked here (the id's shape, a decision, the note's size), then asked of the
attester actor, which owns ``attester_order``: the decision is one guarded write there.
"""

from __future__ import annotations

from chains import fields
from actors import ATTESTER_PATH
from orbital.v1 import admin_pb2
from runtime import InvalidArgument

from ._messages import DecideShortfall

__all__ = ["decide_shortfall", "MAX_NOTE"]

MAX_NOTE = 500
_REQ = admin_pb2.DecideShortfallRequest


def decide_shortfall(node, request: admin_pb2.DecideShortfallRequest
                     ) -> admin_pb2.DecideShortfallResponse:
    intent_id = fields.order_id(request.intent_id, "intent_id")
    if request.decision not in (_REQ.DECISION_REPAY, _REQ.DECISION_WITHHOLD):
        raise InvalidArgument("decision must be DECISION_REPAY (settle to the filler) or "
                              "DECISION_WITHHOLD (never settle; the user is refunded after "
                              "fillDeadline)", field="decision")
    if len(request.note) > MAX_NOTE:
        raise InvalidArgument(f"note is {len(request.note)} characters long; at most "
                              f"{MAX_NOTE}", field="note")
    row = node.registry.ask(ATTESTER_PATH, DecideShortfall(
        intent_id, request.decision == _REQ.DECISION_REPAY, request.note.strip()))
    return admin_pb2.DecideShortfallResponse(intent_id=row.intent, status=row.status,
                                             reason=row.reason)
