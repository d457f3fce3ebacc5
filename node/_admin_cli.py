"""The operator commands over AdminService and ChainService/ListEvents:

  orbital tasks [list] | tasks pause|resume|run NAME     the keeper's scheduled tasks
  orbital funding                                        funding accounts, balances, top-ups
  orbital strategies                                     rebalance strategies: weights, moves
  orbital solvers [ADDRESS] [--suspended] [--limit N]    the book's solver records
  orbital shortfall decide ID --repay|--withhold         a held short settlement
  orbital events [--chain C] [--name N] [--order-id ID] [--from-block B] [--to-block B]
  orbital restart-actor PATH | stop-actor PATH           one actor (or subtree) of the tree

Every command prints a table (or ``--json``: the reply, proto field names); a refusal is one
line on stderr and exit 1 (:mod:`._cli_util`). Admin calls need the node's admin token
(ORBITAL_ADMIN_TOKEN, else ``<state-dir>/admin-token``); ``events`` is public.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from clients import open_channel, table_lines
from clients.cli import tls_options
from orbital.v1 import admin_pb2 as P
from orbital.v1 import chain_pb2, chain_pb2_grpc, solver_pb2

from ._cli_util import UsageError, add_target_arguments, admin_stub, as_dict, guarded, print_json, when

__all__ = ["add_admin_commands"]

_TIMEOUT = 10.0
_DECISIONS = {"repay": P.DecideShortfallRequest.DECISION_REPAY,
              "withhold": P.DecideShortfallRequest.DECISION_WITHHOLD}


# ---- tables --------------------------------------------------------------------------
def task_lines(tasks: Sequence[P.TaskInfo]) -> list[str]:
    """One row per task: its schedule, state (paused/running/scheduled), next and last run."""
    rows = [("NAME", "CRON", "ACTION", "STATE", "NEXT RUN", "LAST RUN", "RUNS", "SKIPPED",
             "LAST RESULT")]
    for t in tasks:
        state = "paused" if t.paused else ("running" if t.running else "scheduled")
        result = f"error: {t.last_error}" if t.last_error else (t.last_result or "-")
        rows.append((t.name, t.cron, t.action, state, when(t.next_run_at), when(t.last_run_at),
                     str(t.runs), str(t.skipped), result[:100]))
    return table_lines(rows, right={6, 7})


def funding_lines(accounts: Sequence[P.FundingAccount]) -> list[str]:
    """One row per account, then its newest top-up (if any) indented below it."""
    rows = [("NAME", "CHAIN", "ASSET", "ADDRESS", "BALANCE", "MIN", "TARGET", "CAP LEFT",
             "STATE", "SOURCE BALANCE")]
    for a in accounts:
        state = a.state + (f" ({a.last_error[:80]})" if a.last_error else "")
        rows.append((a.name, a.chain, a.asset, a.address, a.balance, a.min_balance,
                     a.target_balance, a.remaining_daily_cap, state, a.source_balance or "-"))
    lines = table_lines(rows, right={4, 5, 6, 7})
    for a in accounts:
        for top in a.recent_top_ups[:1]:
            lines.append(f"  {a.name}: last top-up {top.amount} {top.status} at "
                         f"{when(top.created_at)} tx {top.tx_hash or '-'}")
    return lines


def strategy_lines(strategies: Sequence[P.Strategy]) -> list[str]:
    """One row per strategy and chain (weight now against its target), then moves in flight."""
    rows = [("STRATEGY", "TOKEN", "STATE", "CHAIN", "BALANCE", "WEIGHT", "TARGET", "IN BAND")]
    for s in strategies:
        state = s.state + (" dry-run" if s.dry_run else "")
        if s.last_error:
            state += f" ({s.last_error[:80]})"
        band = f"{'yes' if s.in_band else 'no'} (±{s.tolerance:g})"
        for i, w in enumerate(s.weights or [P.ChainWeight()]):
            first = i == 0
            rows.append((s.name if first else "", s.token if first else "", state if first else "",
                         w.chain or "-", w.balance or "-", f"{w.weight:.3f}", f"{w.target:.3f}",
                         band if first else ""))
    lines = table_lines(rows, right={4, 5, 6})
    for s in strategies:
        for m in s.in_flight:
            lines.append(f"  {s.name}: move {m.id} {m.amount} {m.from_chain} -> {m.to_chain} "
                         f"{m.status} since {when(m.started_at)}")
    return lines


def solver_lines(records: Sequence[solver_pb2.SolverRecord]) -> list[str]:
    """One row per solver record: reliability, suspension, window and lifetime counters."""
    rows = [("SOLVER", "RELIABILITY", "SUSPENDED UNTIL", "WINS", "OPENS", "FADES", "DECLINES",
             "SHORT", "BIDS TOTAL", "FILLS TOTAL", "BID MS", "LAST SEEN")]
    for r in records:
        until = when(r.suspended_until) if r.suspended else "-"
        rows.append((r.solver, f"{r.reliability:.3f}", until, str(r.wins), str(r.opens),
                     str(r.fades), str(r.declines), str(r.shortfalls), str(r.bids_total),
                     str(r.fills_total), f"{r.median_bid_ms:g}", when(r.last_seen)))
    return table_lines(rows, right=set(range(1, 11)) - {2})


def solver_record_lines(r: solver_pb2.SolverRecord) -> list[str]:
    """One solver's record as ``key value`` lines (every field of GetSolverRecord)."""
    lines = [f"solver        {r.solver}", f"reliability   {r.reliability:.3f}"]
    if r.suspended:
        lines.append(f"suspended     until {when(r.suspended_until)}: {r.suspension_reason}")
    lines += [f"window        last {r.window_seconds:g} s: wins {r.wins}, opens {r.opens}, "
              f"fades {r.fades}, declines {r.declines}, shortfalls {r.shortfalls}, foreign fills "
              f"{r.foreign_fills}, voided {r.voided}",
              f"lifetime      offers {r.offers_total}, bids {r.bids_total}, wins "
              f"{r.wins_total}, fills {r.fills_total}, fades {r.fades_total}",
              f"bid latency   median {r.median_bid_ms:g} ms",
              f"last seen     {when(r.last_seen)}"]
    return lines


def event_lines(events: Sequence[chain_pb2.ChainEvent]) -> list[str]:
    """One row per indexed event, oldest first (the order ListEvents gives)."""
    rows = [("CHAIN", "BLOCK", "LOG", "NAME", "ORDER ID", "TX")]
    rows += [(e.chain, str(e.block_number), str(e.log_index), e.name, e.order_id or "-",
              e.tx_hash) for e in events]
    return table_lines(rows, right={1, 2})


def _actor_line(a: P.ActorInfo) -> str:
    err = f", last error: {a.last_error}" if a.last_error else ""
    return f"{a.path}: {a.state} ({a.kind}, restarts {a.restarts}{err})"


# ---- commands ------------------------------------------------------------------------
def cmd_tasks(args: argparse.Namespace) -> int:
    stub, md = admin_stub(args)
    action = args.action or "list"
    if action == "list":
        reply = stub.ListTasks(P.ListTasksRequest(), metadata=md, timeout=_TIMEOUT)
        if args.json:
            print_json(as_dict(reply))
        else:
            print("\n".join(task_lines(reply.tasks)))
        return 0
    if not args.name:
        raise UsageError(f"tasks {action}: give the task's NAME (see `orbital tasks`)")
    call = {"pause": (stub.PauseTask, P.PauseTaskRequest),
            "resume": (stub.ResumeTask, P.ResumeTaskRequest),
            "run": (stub.RunTask, P.RunTaskRequest)}[action]
    reply = call[0](call[1](name=args.name), metadata=md, timeout=_TIMEOUT)
    if args.json:
        print_json(as_dict(reply))
        return 0
    lines = task_lines([reply.task])
    if action == "run":
        lines.append(f"started run {reply.run_id}")
    print("\n".join(lines))
    return 0


def cmd_funding(args: argparse.Namespace) -> int:
    stub, md = admin_stub(args)
    reply = stub.ListFundingAccounts(P.ListFundingAccountsRequest(), metadata=md,
                                     timeout=_TIMEOUT)
    if args.json:
        print_json(as_dict(reply))
    elif not reply.accounts:
        print("no funding accounts configured")
    else:
        print("\n".join(funding_lines(reply.accounts)))
    return 0


def cmd_strategies(args: argparse.Namespace) -> int:
    stub, md = admin_stub(args)
    reply = stub.ListStrategies(P.ListStrategiesRequest(), metadata=md, timeout=_TIMEOUT)
    if args.json:
        print_json(as_dict(reply))
    elif not reply.strategies:
        print("no rebalance strategies configured")
    else:
        print("\n".join(strategy_lines(reply.strategies)))
    return 0


def cmd_solvers(args: argparse.Namespace) -> int:
    stub, md = admin_stub(args)
    if args.solver:
        record = stub.GetSolverRecord(P.GetSolverRecordRequest(solver=args.solver),
                                      metadata=md, timeout=_TIMEOUT)
        if args.json:
            print_json(as_dict(record))
        else:
            print("\n".join(solver_record_lines(record)))
        return 0
    reply = stub.ListSolvers(P.ListSolversRequest(suspended_only=args.suspended,
                                                  limit=args.limit), metadata=md, timeout=_TIMEOUT)
    if args.json:
        print_json(as_dict(reply))
    else:
        print("\n".join([*solver_lines(reply.solvers),
                         f"{len(reply.solvers)} solver(s), lowest reliability first"]))
    return 0


def cmd_shortfall(args: argparse.Namespace) -> int:
    stub, md = admin_stub(args)
    reply = stub.DecideShortfall(P.DecideShortfallRequest(
        intent_id=args.intent_id, decision=_DECISIONS[args.decision], note=args.note or ""),
        metadata=md, timeout=_TIMEOUT)
    if args.json:
        print_json(as_dict(reply))
    else:
        print(f"{reply.intent_id}: {reply.status}" + (f" ({reply.reason})" if reply.reason else ""))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """One page (``--limit``, ``--page-token``), or every page with ``--all``."""
    events: list[chain_pb2.ChainEvent] = []
    token = args.page_token or ""
    with open_channel(args.address, tls_options(args)) as channel:
        stub = chain_pb2_grpc.ChainServiceStub(channel)
        while True:
            reply = stub.ListEvents(chain_pb2.ListEventsRequest(
                chain=args.chain or "", name=args.name or "", order_id=args.order_id or "",
                from_block=args.from_block, to_block=args.to_block, page_size=args.limit,
                page_token=token), timeout=_TIMEOUT)
            events += reply.events
            token = reply.next_page_token
            if not (args.all and token):
                break
    if args.json:
        print_json({"events": [as_dict(e) for e in events], "next_page_token": token})
        return 0
    lines = event_lines(events) if events else ["no events"]
    if token:
        lines.append(f"more: --page-token {token}")
    print("\n".join(lines))
    return 0


def cmd_restart_actor(args: argparse.Namespace) -> int:
    stub, md = admin_stub(args)
    reply = stub.RestartActor(P.RestartActorRequest(path=args.path), metadata=md, timeout=60)
    if args.json:
        print_json(as_dict(reply))
    else:
        print(f"restarted {_actor_line(reply.actor)}")
    return 0


def cmd_stop_actor(args: argparse.Namespace) -> int:
    stub, md = admin_stub(args)
    reply = stub.StopActor(P.StopActorRequest(path=args.path), metadata=md, timeout=60)
    if args.json:
        print_json(as_dict(reply))
    else:
        print(f"stopped {reply.path} (a restart-actor or a reload starts it again)")
    return 0


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is below 0")
    return value


def add_admin_commands(sub: Any) -> None:
    """Add tasks/funding/strategies/solvers/shortfall/events/restart-actor/stop-actor to
    ``sub`` (argparse subparsers)."""
    def command(name: str, text: str, fn: Any, *, admin: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        add_target_arguments(p, admin=admin)
        p.set_defaults(fn=guarded(fn))
        return p

    p = command("tasks", "the keeper's scheduled tasks; pause, resume or run one now", cmd_tasks)
    p.add_argument("action", nargs="?", choices=("list", "pause", "resume", "run"),
                   help="list (default), or pause/resume/run the task NAME")
    p.add_argument("name", nargs="?", metavar="NAME")
    command("funding", "funding accounts: balances against thresholds, daily cap left, "
                       "last top-up", cmd_funding)
    command("strategies", "rebalance strategies: each chain's weight against its target, "
                          "moves in flight", cmd_strategies)
    p = command("solvers", "the solvers the book has a record of (lowest reliability first), "
                           "or one solver's record", cmd_solvers)
    p.add_argument("solver", nargs="?", metavar="ADDRESS", help="show this solver's record")
    p.add_argument("--suspended", action="store_true", help="only suspended solvers")
    p.add_argument("--limit", type=_non_negative, default=0,
                   help="at most this many (default 100, max 1000)")
    p = command("shortfall", "decide a settlement held because its fill delivered less than "
                             "the winning bid", cmd_shortfall)
    p.add_argument("verb", choices=("decide",))
    p.add_argument("intent_id", metavar="INTENT_ID")
    choice = p.add_mutually_exclusive_group(required=True)
    choice.add_argument("--repay", dest="decision", action="store_const", const="repay",
                        help="settle it to the filler at the next round")
    choice.add_argument("--withhold", dest="decision", action="store_const", const="withhold",
                        help="never settle it (the user is refunded after fillDeadline)")
    p.add_argument("--note", help="why (kept in the settlement's reason; at most 500 chars)")
    p = command("events", "indexed contract events, oldest first (public)", cmd_events,
                admin=False)
    p.add_argument("--chain", help="chain name or chain id")
    p.add_argument("--name", help="event name: Open, Filled, Settled, Refunded, ...")
    p.add_argument("--order-id", help="0x order id")
    p.add_argument("--from-block", type=_non_negative, default=0, help="first block (inclusive)")
    p.add_argument("--to-block", type=_non_negative, default=0, help="last block (inclusive)")
    p.add_argument("--limit", type=_non_negative, default=0,
                   help="events per page (default 100, max 1000)")
    p.add_argument("--page-token", help="the token a previous page printed")
    p.add_argument("--all", action="store_true", help="every page")
    p = command("restart-actor", "stop and start one actor (or subtree) by path",
                cmd_restart_actor)
    p.add_argument("path", help="e.g. chains/watcher/devnet-a (see `orbital tree`)")
    p = command("stop-actor", "stop one actor by path (it stays stopped until restart-actor "
                              "or a reload)", cmd_stop_actor)
    p.add_argument("path", help="e.g. keeper (see `orbital tree`)")
