"""``orbital alerts export | list``: the alert rules as a Prometheus rule file, and a running
node's alerts.

``export`` is offline: it reads the config file through the same loader as ``orbital run``
(so a file the node would refuse is refused here, with file:line) and writes
:func:`actors.alerts.prometheus_rule_file`; no node, database or chain is contacted.
``list`` calls ``AdminService/ListAlerts`` (admin token, like ``orbital tree``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from actors.alerts import AlertsConfig, prometheus_rule_file
from clients import table_lines
from runtime import ConfigError
from runtime.config import default_config_path, load_config

from ._cli_util import add_target_arguments, admin_stub, as_dict, guarded, print_json, when

__all__ = ["add_alerts_commands", "alert_lines"]


def cmd_export(args: argparse.Namespace) -> int:
    from . import build_app
    try:
        config = load_config(args.config, build_app())
    except ConfigError as exc:
        print(f"orbital: invalid config: {exc}", file=sys.stderr)
        return 2
    text = prometheus_rule_file(config.section("alerts", AlertsConfig),
                                source=os.path.basename(args.config))
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return 0
    tmp = f"{args.output}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:   # never a half-written rule file
            fh.write(text)
        os.replace(tmp, args.output)
    except OSError as exc:
        print(f"orbital: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def alert_lines(alerts: Any) -> list[str]:
    """``ListAlertsResponse.alerts`` as a table, in the order the node gave them."""
    if not alerts:
        return ["no alerts"]
    rows = [("STATE", "SEVERITY", "NAME", "SOURCE", "COUNT", "SINCE", "MESSAGE")]
    for a in alerts:
        since = a.resolved_at if a.state == "resolved" else a.started_at
        rows.append((a.state, a.severity, a.name, a.source, str(a.count), when(since),
                     a.message[:120]))
    return [*table_lines(rows, frozenset({4})),
            f"{sum(a.state == 'firing' for a in alerts)} firing, {len(alerts)} listed"]


def cmd_list(args: argparse.Namespace) -> int:
    from orbital.v1 import admin_pb2
    stub, md = admin_stub(args)
    reply = stub.ListAlerts(admin_pb2.ListAlertsRequest(include_resolved=args.resolved),
                            metadata=md, timeout=10)
    if args.json:
        print_json(as_dict(reply))
    else:
        print("\n".join(alert_lines(reply.alerts)))
    return 0


def add_alerts_commands(sub: Any) -> None:
    """Add ``alerts export`` and ``alerts list`` to ``sub`` (argparse subparsers)."""
    alerts = sub.add_parser("alerts", help="export the alert rules for Prometheus, or list "
                                           "a running node's alerts")
    inner = alerts.add_subparsers(dest="alerts_command", required=True)
    export = inner.add_parser(
        "export", help="write alerts.rules of a config file as a Prometheus rule file "
                       "(offline)")
    export.add_argument("--config", default=default_config_path())
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.set_defaults(fn=cmd_export)
    ls = inner.add_parser("list", help="a running node's alerts (AdminService/ListAlerts)")
    add_target_arguments(ls)
    ls.add_argument("--resolved", action="store_true", help="also the recently resolved")
    ls.set_defaults(fn=guarded(cmd_list))
