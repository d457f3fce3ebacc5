"""A real node serving AnalyticsService on loopback, and a scenario with known figures.

The node runs the chain watchers (for the ``chains`` section: chains and tokens resolve
through the config) and the analytics kind, no book: the scenario's intents are written
through the book's own store API (:func:`actors.book.insert_intents`,
:func:`actors.book.write_transition`) with exact times and amounts, and no book moves
them afterwards. Tests of the durable submission counts run the full node instead
(test_submissions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import actors.analytics
import actors.chain_watcher
from actors.book import (IntentRow, IntentTransition, SolverMark, SolverRecord, Status,
                         SubmissionCount, TransitionView, insert_intents, write_transition)
from devnet import ACCOUNTS, free_ports
from node import new_app
from orbital.v1 import analytics_pb2_grpc
from tests._node import node_config, write_config
from tests.intents.conftest import ADDR, chains_section
from tests.intents.conftest import intents_node  # noqa: F401 - the full node, for test_submissions

T0 = 1_767_225_600            # 2026-01-01 00:00 UTC
HOUR, DAY = 3600, 86400
USDC, WETH = ADDR["USDC"], ADDR["WETH"]
S1, S2, S3 = (a.address for a in ACCOUNTS[1:4])
USER = ACCOUNTS[5].address
BIG = 2**255


def analytics_app():
    app = new_app()
    actors.chain_watcher.install(app)
    actors.analytics.install(app)
    return app


@dataclass(frozen=True)
class Step:
    status: Status
    at: float
    fields: dict[str, Any]
    reverted: bool = False


def add_intent(n: int, created: float, token: str, amount: int, steps: list[Step]) -> str:
    """Intent number ``n`` accepted at ``created`` (devnet-a -> devnet-b, ``token`` both
    sides), then walked through ``steps`` (the book's guarded writes)."""
    oid = "0x" + f"{n:064x}"
    fields = dict(id=oid, status="PENDING", version=1, user=USER, nonce=n, origin_chain="devnet-a",
                  origin_chain_id=31337, destination_chain="devnet-b", destination_chain_id=31338,
                  origin_settler=ADDR["settler"], input_token=token, input_amount=amount,
                  output_token=token, min_output=amount // 2, recipient=USER,
                  open_deadline=int(created) + 600, fill_deadline=int(created) + 3600,
                  source="gasless", created_at=created, updated_at=created)
    insert_intents([(fields, TransitionView(1, None, Status.PENDING, created, "accepted"), None)])
    status, version = Status.PENDING, 1
    for s in steps:
        write_transition(oid, version, TransitionView(version + 1, status, s.status, s.at, "test",
                                                      s.fields.get("solver", "")), s.fields, None)
        if s.reverted:
            IntentTransition.update(reverted=True).where(
                (IntentTransition.intent == oid) & (IntentTransition.version == version + 1)).execute()
        status, version = s.status, version + 1
    return oid


def fill_steps(solver: str, created: float, fill_after: float, fill_amount: int,
               settle_after: float | None = None) -> list[Step]:
    steps = [Step(Status.ASSIGNED, created + 5, {"solver": solver}),
             Step(Status.OPENED, created + 10, {}),
             Step(Status.FILLED, created + fill_after, {"filler": solver, "fill_amount": fill_amount})]
    if settle_after is not None:
        steps.append(Step(Status.SETTLED, created + fill_after + settle_after, {}))
    return steps


def write_scenario(now: float) -> None:
    """The intents, counters and marks whose figures the tests check (see test_figures)."""
    # A: USDC, filled after 60 s by S1, settled 240 s later
    add_intent(1, T0 + 100, USDC, 100_000_000, fill_steps(S1, T0 + 100, 60, 99_000_000, 240))
    # B: USDC, a fill reorged away (reverted), filled again 90 s after acceptance by S2
    b = T0 + 200
    add_intent(2, b, USDC, 50_000_000, [
        Step(Status.ASSIGNED, b + 5, {"solver": S2}), Step(Status.OPENED, b + 10, {}),
        Step(Status.FILLED, b + 40, {"filler": S2, "fill_amount": 49_500_000}, reverted=True),
        Step(Status.OPENED, b + 50, {"filler": "", "fill_amount": 0}),
        Step(Status.FILLED, b + 90, {"filler": S2, "fill_amount": 49_500_000})])
    # C: WETH (beyond 64 bits), filled after 30 s by S1, settled 100 s later
    add_intent(3, T0 + HOUR + 100, WETH, 10**30 + 7, fill_steps(S1, T0 + HOUR + 100, 30, 10**30 + 3, 100))
    add_intent(4, T0 + HOUR + 200, USDC, 1_000_000, [Step(Status.EXPIRED, T0 + HOUR + 900, {})])
    add_intent(5, T0 + HOUR + 300, USDC, 2_000_000, [])                         # PENDING
    # H: WETH 2^255, filled after 45 s by S2
    add_intent(6, T0 + HOUR + 400, WETH, BIG, fill_steps(S2, T0 + HOUR + 400, 45, BIG - 1))
    add_intent(7, T0 + DAY + 10, USDC, 3_000_000, [Step(Status.CANCELLED, T0 + DAY + 20, {})])
    # before the range: never counted
    add_intent(8, T0 - 100, USDC, 7_000_000, fill_steps(S1, T0 - 100, 10, 7_000_000, 10))
    SubmissionCount.insert_many([
        {"hour": T0, "code": "OK", "count": 7}, {"hour": T0, "code": "INVALID_ARGUMENT", "count": 2},
        {"hour": T0 + HOUR, "code": "UNAUTHENTICATED", "count": 1},
        {"hour": T0 - HOUR, "code": "OK", "count": 100}]).execute()
    SolverRecord.insert_many([
        {"solver": S1, "offers": 10, "bids": 8, "wins": 3, "fills": 2, "failures": 1,
         "declines": 0, "shortfalls": 0, "response_ms": "[10, 30, 20]"},
        {"solver": S2, "offers": 10, "bids": 5, "wins": 2, "fills": 2, "failures": 0,
         "declines": 1, "shortfalls": 1, "response_ms": "[]"},
        {"solver": S3, "offers": 4, "bids": 1, "wins": 0, "fills": 0, "response_ms": "[7]",
         "suspended_until": now + 3600}]).execute()
    old = now - 8 * DAY   # outside the default 7-day window
    SolverMark.insert_many([
        {"solver": S1, "kind": "open", "intent": "a", "at": now - 60},
        {"solver": S1, "kind": "open", "intent": "b", "at": now - 60},
        {"solver": S1, "kind": "fade", "intent": "c", "at": now - 60},
        {"solver": S1, "kind": "win", "intent": "c", "at": now - 60},
        {"solver": S2, "kind": "open", "intent": "d", "at": now - 60},
        {"solver": S2, "kind": "decline", "intent": "e", "at": now - 60},
        {"solver": S2, "kind": "shortfall", "intent": "f", "at": now - 60},
        {"solver": S2, "kind": "fade", "intent": "g", "at": old}]).execute()
    assert IntentRow.select().count() == 8


@pytest.fixture
def analytics(tmp_path, database_url, nodes):
    """(node, AnalyticsService stub) with the scenario written."""
    import time
    path = write_config(tmp_path / "supervisor.yaml", node_config(
        database_url, tmp_path / "var", {"chains": chains_section(tuple(free_ports(2)))}))
    node = nodes.start(path, analytics_app)
    with node.store.connection() as db, db.atomic():
        write_scenario(time.time())
    return node, nodes.stub(node, analytics_pb2_grpc.AnalyticsServiceStub)


@pytest.fixture
def nodes(tmp_path):
    from tests._node import TestNodes
    with TestNodes(tmp_path) as nodes:
        yield nodes
