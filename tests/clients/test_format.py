"""What the CLI prints for a history entry that records a finding of the evidence rule, and
for an intent whose fill fell short of the winning bid. Pure: messages built in memory."""

from __future__ import annotations

from clients import Intent
from clients._format import intent_lines
from orbital.v1 import intents_pb2


def _intent(**kw) -> Intent:
    msg = intents_pb2.Intent(id="0x" + "ab" * 32, status=intents_pb2.INTENT_STATUS_FILLED,
                             version=4, input_amount="100", min_output_amount="90",
                             awarded_output_amount="95", solver="0x" + "11" * 20, **kw)
    msg.history.add(version=3, from_status=intents_pb2.INTENT_STATUS_OPENED,
                    status=intents_pb2.INTENT_STATUS_OPENED, finding="foreign_fill",
                    reason="foreign fill by 0x.. : fill key differs", solver="0x" + "22" * 20)
    msg.history.add(version=4, from_status=intents_pb2.INTENT_STATUS_OPENED,
                    status=intents_pb2.INTENT_STATUS_FILLED, finding="shortfall",
                    reason="filled with 90: 5 below the winning bid 95 (shortfall)")
    return Intent.from_pb(msg)


def test_findings_and_shortfall_are_printed():
    lines = intent_lines(_intent(filled_output_amount="90", shortfall_amount="5"))
    assert "filled      90  SHORTFALL 5" in lines
    assert any("OPENED -> OPENED  [foreign fill]  solver 0x2222" in x for x in lines)
    assert any("OPENED -> FILLED  [shortfall]" in x for x in lines)


def test_to_json_carries_the_new_fields():
    j = _intent(filled_output_amount="90", shortfall_amount="5").to_json()
    assert (j["filled_output_amount"], j["shortfall_amount"]) == ("90", "5")
    assert [t["finding"] for t in j["history"]] == ["foreign_fill", "shortfall"]
