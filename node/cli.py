"""``orbital``: run a node, validate its config, talk to a running one (operator commands),
and the user commands of :mod:`clients.cli`, in one console script."""

from __future__ import annotations

import json
import os
import sys
import time

from clients import open_channel
from clients.cli import main as client_main
from clients.cli import tls_arguments, tls_options
from runtime import ConfigError, setup_logging
from runtime.config import default_config_path, load_config
from runtime.node import Node, build_tree

from . import build_app
from ._alerts_cli import add_alerts_commands
from ._analytics_cli import add_analytics_commands

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


def _admin_stub(args):
    from orbital.v1 import admin_pb2_grpc
    token = os.environ.get("ORBITAL_ADMIN_TOKEN")
    if not token:
        with open(os.path.join(args.state_dir, "admin-token")) as fh:
            token = fh.read().strip()
    channel = open_channel(args.address, tls_options(args))
    return admin_pb2_grpc.AdminServiceStub(channel), [("authorization", f"Bearer {token}")]


def cmd_tree(args) -> int:
    from orbital.v1 import admin_pb2
    stub, md = _admin_stub(args)
    reply = stub.GetTree(admin_pb2.GetTreeRequest(), metadata=md, timeout=10)
    width = max((len(a.path) for a in reply.actors), default=4)
    print(f"node {reply.node}")
    for a in reply.actors:
        err = f"  last error: {a.last_error}" if a.last_error else ""
        print(f"  {a.path:<{width}}  {a.kind:<12} {a.state:<10} restarts={a.restarts}"
              f" mailbox={a.mailbox_depth}{err}")
    return 0


def cmd_nodes(args) -> int:
    """The nodes sharing the target node's database (AdminService/ListNodes)."""
    from google.protobuf.json_format import MessageToDict
    from orbital.v1 import admin_pb2
    stub, md = _admin_stub(args)
    reply = stub.ListNodes(admin_pb2.ListNodesRequest(), metadata=md, timeout=10)
    if args.json:
        print(json.dumps(MessageToDict(reply, preserving_proto_field_name=True)))
        return 0
    rows = [("", "INSTANCE", "NAME", "HOST", "PID", "GRPC", "ADVERTISE", "STARTED", "LAST SEEN",
             "LEASES")]
    for n in reply.nodes:
        rows.append(("*" if n.this_node else "", n.instance, n.name, n.host, str(n.pid),
                     n.grpc_listen, n.advertise or "-", _when(n.started_at), _when(n.last_seen),
                     ",".join(_lease(lease) for lease in n.leases) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"{len(reply.nodes)} node(s) seen within {reply.seen_within_seconds:g} s; "
          "* = the node that answered")
    return 0


def cmd_chains(args) -> int:
    """The configured chains, EVM and Solana, with their watchers' progress
    (ChainService/ListChains; public, no admin token). Solana rows are in slots."""
    from google.protobuf.json_format import MessageToDict
    from orbital.v1 import chain_pb2, chain_pb2_grpc
    with open_channel(args.address, tls_options(args)) as channel:
        reply = chain_pb2_grpc.ChainServiceStub(channel).ListChains(
            chain_pb2.ListChainsRequest(), timeout=10)
    if args.json:
        print(json.dumps(MessageToDict(reply, preserving_proto_field_name=True)))
        return 0
    rows = [("NAME", "KIND", "CHAIN ID", "HEAD", "CONFIRMED", "INDEXED", "LAG", "ACTIVE RPC",
             "STATE")]
    for c in reply.chains:
        state = "standby" if c.standby else ("running" if c.running else "stopped")
        if c.last_error:
            state += f" ({c.last_error[:80]})"
        kind = f"{c.kind}/{c.commitment}" if c.commitment else c.kind
        rows.append((c.name, kind, str(c.chain_id or "-"), str(c.head), str(c.confirmed_block),
                     str(c.indexed_block), str(c.lag), c.active_rpc, state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print("Solana rows count slots: head = processed, confirmed = the chain's commitment")
    return 0


def _lease(lease) -> str:
    """name@epoch, and the seconds left before it expires unless renewed."""
    left = lease.expires_at.ToMicroseconds() / 1e6 - time.time()
    return f"{lease.name}@{lease.epoch}({max(left, 0):.0f}s)"


def _when(ts) -> str:
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")


def cmd_reload(args) -> int:
    import grpc
    from orbital.v1 import admin_pb2
    stub, md = _admin_stub(args)
    try:
        reply = stub.ReloadConfig(admin_pb2.ReloadConfigRequest(), metadata=md, timeout=60)
    except grpc.RpcError as exc:
        print(f"reload refused: {exc.details()}", file=sys.stderr)
        return 1
    print(json.dumps({"started": list(reply.started), "stopped": list(reply.stopped),
                      "restarted": list(reply.restarted), "unchanged": reply.unchanged}))
    return 0


def add_subcommands(sub) -> None:
    """Add run/check-config/tree/nodes/chains/reload and the analytics commands
    (summary/volume/leaderboard, :mod:`._analytics_cli`) to ``sub`` (an argparse
    subparsers object), beside the user commands of :mod:`clients.cli`."""
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
        p = sub.add_parser(name, help=text)
        p.add_argument("--address", default=os.environ.get("ORBITAL_ADDRESS", "127.0.0.1:50051"))
        p.add_argument("--state-dir", default="var")
        tls_arguments(p)
        if name in ("nodes", "chains"):
            p.add_argument("--json", action="store_true", help="the reply as JSON")
        p.set_defaults(fn=fn)
    add_analytics_commands(sub)
    add_alerts_commands(sub)


def main(argv: list[str] | None = None) -> int:
    """The ``orbital`` console script: operator and user commands."""
    return client_main(argv, extra=add_subcommands)


if __name__ == "__main__":
    sys.exit(main())
