"""``orbital``: run a node, validate its config, talk to a running one (operator commands),
and the user commands of :mod:`clients.cli`, in one console script."""

from __future__ import annotations

import json
import os
import sys
import time

from clients import open_channel, table_lines
from clients.cli import main as client_main
from clients.cli import tls_options
from runtime import ConfigError, setup_logging
from runtime.config import default_config_path, load_config
from runtime.node import Node, build_tree

from . import build_app
from ._admin_cli import add_admin_commands
from ._alerts_cli import add_alerts_commands
from ._analytics_cli import add_analytics_commands
from ._cli_util import add_target_arguments, admin_stub, as_dict, guarded, print_json, when

__all__ = ["add_subcommands", "main"]


def cmd_run(args) -> int:
    setup_logging(args.log_level)
    try:
        node = Node(args.config, build_app())
    except ConfigError as exc:
        print(f"orbital: invalid config: {exc}", file=sys.stderr)
        return 2
    node.install_signal_handlers()
    try:
        node.start()
    except ConfigError as exc:   # refused before serving (a SQLite file another node holds)
        print(f"orbital: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - report and exit non-zero
        import logging
        logging.getLogger("orbital.node").critical("node failed to start",
                                                   extra={"error": repr(exc)}, exc_info=True)
        return 1
    return node.run_forever()


def cmd_check_config(args) -> int:
    app = build_app()
    try:
        config = load_config(args.file, app)
    except ConfigError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    tree = build_tree(app, config)
    print(f"ok: {args.file} ({_count(tree)} actors in the tree)")
    return 0


def _count(spec) -> int:
    return sum(1 + (_count(c.config) if c.is_supervisor else 0) for c in spec.children)


def cmd_tree(args) -> int:
    """The supervision tree: every actor with its state, restarts and mailbox depth."""
    from orbital.v1 import admin_pb2
    stub, md = admin_stub(args)
    reply = stub.GetTree(admin_pb2.GetTreeRequest(), metadata=md, timeout=10)
    if args.json:
        print_json(as_dict(reply))
        return 0
    rows = [("PATH", "KIND", "STATE", "RESTARTS", "MAILBOX", "LAST ERROR")]
    rows += [(a.path, a.kind, a.state, str(a.restarts), str(a.mailbox_depth),
              a.last_error or "") for a in reply.actors]
    print(f"node {reply.node}")
    print("\n".join("  " + line for line in table_lines(rows, right={3, 4})))
    return 0


def cmd_nodes(args) -> int:
    """The nodes sharing the target node's database (AdminService/ListNodes)."""
    from orbital.v1 import admin_pb2
    stub, md = admin_stub(args)
    reply = stub.ListNodes(admin_pb2.ListNodesRequest(), metadata=md, timeout=10)
    if args.json:
        print_json(as_dict(reply))
        return 0
    rows = [("", "INSTANCE", "NAME", "HOST", "PID", "GRPC", "ADVERTISE", "STARTED", "LAST SEEN",
             "LEASES")]
    for n in reply.nodes:
        rows.append(("*" if n.this_node else "", n.instance, n.name, n.host, str(n.pid),
                     n.grpc_listen, n.advertise or "-", when(n.started_at), when(n.last_seen),
                     ",".join(_lease(lease) for lease in n.leases) or "-"))
    print("\n".join(table_lines(rows)))
    print(f"{len(reply.nodes)} node(s) seen within {reply.seen_within_seconds:g} s; "
          "* = the node that answered")
    return 0


def cmd_chains(args) -> int:
    """The configured chains, EVM and Solana, with their watchers' progress
    (ChainService/ListChains; public, no admin token). Solana rows are in slots. SYNCED is
    a backfill's progress: the share of the blocks from the chain's start block to its
    confirmed block that are indexed (LAG: the blocks left)."""
    from orbital.v1 import chain_pb2, chain_pb2_grpc
    with open_channel(args.address, tls_options(args)) as channel:
        reply = chain_pb2_grpc.ChainServiceStub(channel).ListChains(
            chain_pb2.ListChainsRequest(), timeout=10)
    if args.json:
        print_json(as_dict(reply))
        return 0
    rows = [("NAME", "KIND", "CHAIN ID", "HEAD", "CONFIRMED", "INDEXED", "LAG", "SYNCED",
             "ACTIVE RPC", "STATE")]
    for c in reply.chains:
        state = "standby" if c.standby else ("running" if c.running else "stopped")
        if c.last_error:
            state += f" ({c.last_error[:80]})"
        kind = f"{c.kind}/{c.commitment}" if c.commitment else c.kind
        rows.append((c.name, kind, str(c.chain_id or "-"), str(c.head), str(c.confirmed_block),
                     str(c.indexed_block), str(c.lag), _synced(c), c.active_rpc, state))
    print("\n".join(table_lines(rows, right={3, 4, 5, 6, 7})))
    print("Solana rows count slots: head = processed, confirmed = the chain's commitment")
    return 0


def _synced(c) -> str:
    """``100%``, or ``42.1%`` while the watcher backfills (LAG: the blocks left)."""
    return f"{c.synced_percent:g}%"


def _lease(lease) -> str:
    """name@epoch, and the seconds left before it expires unless renewed."""
    left = lease.expires_at.ToMicroseconds() / 1e6 - time.time()
    return f"{lease.name}@{lease.epoch}({max(left, 0):.0f}s)"


def cmd_reload(args) -> int:
    """Re-read the node's config and apply it as a diff; prints what changed as JSON."""
    from orbital.v1 import admin_pb2
    stub, md = admin_stub(args)
    reply = stub.ReloadConfig(admin_pb2.ReloadConfigRequest(), metadata=md, timeout=60)
    print(json.dumps({"started": list(reply.started), "stopped": list(reply.stopped),
                      "restarted": list(reply.restarted), "unchanged": reply.unchanged}))
    return 0


def add_subcommands(sub) -> None:
    """Add run/check-config/tree/nodes/chains/reload, the admin commands (tasks, funding,
    strategies, solvers, shortfall, events, restart-actor, stop-actor: :mod:`._admin_cli`)
    and the analytics commands (summary/volume/leaderboard, :mod:`._analytics_cli`) to
    ``sub`` (an argparse subparsers object), beside the user commands of :mod:`clients.cli`."""
    run = sub.add_parser("run", help="run a node")
    run.add_argument("--config", default=default_config_path())
    run.add_argument("--log-level", default=os.environ.get("ORBITAL_LOG_LEVEL", "INFO"))
    run.set_defaults(fn=cmd_run)
    check = sub.add_parser("check-config", help="validate a config file, start nothing")
    check.add_argument("file", nargs="?", default=default_config_path())
    check.set_defaults(fn=cmd_check_config)
    for name, fn, text in (("tree", cmd_tree, "show a running node's actor tree"),
                           ("nodes", cmd_nodes, "list the nodes sharing a running node's "
                                                "database, with the leases they hold"),
                           ("chains", cmd_chains, "list the configured chains (EVM and Solana) "
                                                  "and their watchers' progress"),
                           ("reload", cmd_reload, "reload a running node's config")):
        p = sub.add_parser(name, help=text, description=text)
        add_target_arguments(p, json_output=name != "reload", admin=name != "chains")
        p.set_defaults(fn=guarded(fn))
    add_admin_commands(sub)
    add_analytics_commands(sub)
    add_alerts_commands(sub)


def main(argv: list[str] | None = None) -> int:
    """The ``orbital`` console script: operator and user commands."""
    return client_main(argv, extra=add_subcommands)


if __name__ == "__main__":
    sys.exit(main())
