"""``AdminService/ListStrategies``: each running strategy's live view, as protobuf.

Blocking (the runtime runs it off the gRPC loop): it asks every ``rebalance/<name>``
actor for its :class:`StrategyStatus` (balances of its last round, weights now vs target,
moves in flight and the newest finished ones). A strategy that does not answer in time
(restarting, stuck in an RPC call) is listed from what the store knows, state ``error``.
"""

from __future__ import annotations


from orbital.v1 import admin_pb2
from runtime import ActorUnavailable

from ._actor import StrategyStatus
from ._models import RebalanceMove
from runtime.grpc import timestamp as _ts

__all__ = ["list_strategies", "GROUP"]

GROUP = "rebalance"
_ASK_TIMEOUT = 5.0



def move_pb(m: RebalanceMove) -> admin_pb2.Move:
    return admin_pb2.Move(id=m.id, from_chain=m.from_chain, to_chain=m.to_chain,
                          amount=str(m.amount), deposit_tx=m.deposit_tx,
                          release_tx=m.release_tx, status=m.status,
                          started_at=_ts(m.created_at), finished_at=_ts(m.finished_at),
                          reason=m.reason)


def strategy_pb(s: dict) -> admin_pb2.Strategy:
    weights = [admin_pb2.ChainWeight(chain=c, balance=str(s["balances"].get(c, 0)),
                                     weight=s["weights"].get(c, 0.0), target=t)
               for c, t in sorted(s["targets"].items())]
    return admin_pb2.Strategy(name=s["name"], token=s["token"], dry_run=s["dry_run"],
                              weights=weights, tolerance=s["tolerance"], in_band=s["in_band"],
                              in_flight=[move_pb(m) for m in s["in_flight"]],
                              history=[move_pb(m) for m in s["history"]], state=s["state"],
                              last_error=s["last_error"])


def list_strategies(node, request) -> admin_pb2.ListStrategiesResponse:
    out = []
    for path in sorted(node.registry.paths(GROUP + "/")):
        try:
            status = node.registry.ask(path, StrategyStatus(), timeout=_ASK_TIMEOUT)
        except (ActorUnavailable, TimeoutError) as exc:
            out.append(admin_pb2.Strategy(name=path.partition("/")[2], state="error",
                                          last_error=f"not answering: {exc}"[:300]))
            continue
        out.append(strategy_pb(status))
    return admin_pb2.ListStrategiesResponse(strategies=out)
