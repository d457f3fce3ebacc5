"""``python -m devnet up|down|status [--state-dir var]``: the Makefile's way to run the devnet.

``up`` prints each step to stderr as it starts (``devnet: [  1.2s] starting anvil devnet-a
...``), so a person sees where a slow start is; stdout keeps the summary lines scripts read.

Exit codes: 0 success (``status``: up and healthy), 1 error or unhealthy, 3 ``status`` when not
running (the convention of service managers), so scripts can tell "down" from "broken".
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable

from devnet.anvil import DevnetError
from devnet.info import devnet_json_path
from devnet.lifecycle import DEFAULT_HOST, DEFAULT_PORTS, DEFAULT_SOLANA_PORT, start, status, stop


# Role keys the node's actors read from the environment (supervisor.yaml `${...}`). These are
# anvil's well-known test keys: for the local devnet only, never for a real chain.
ENV_KEYS = {"ORBITAL_TREASURY_KEY": "treasury", "ORBITAL_ATTESTER_KEY": "attester",
            "ORBITAL_RELAYER_KEY": "bridge_relayer", "ORBITAL_OPERATOR_KEY": "operator",
            "ORBITAL_SOLVER_KEY": "solver"}


def devnet_env() -> str:
    """``export NAME=key`` lines for ``eval`` in a shell (make run)."""
    from devnet.accounts import account
    from devnet.solana_keys import SOLANA_ACCOUNTS
    lines = [f"export {name}={account(role).private_key}" for name, role in ENV_KEYS.items()]
    # solana-local's treasury keypair (base58), for Solana funding accounts
    lines.append(f"export ORBITAL_SOLANA_TREASURY_KEY={SOLANA_ACCOUNTS[0].keypair}")
    return "\n".join(lines)


def stderr_progress(began: float) -> Callable[[str], None]:
    """A ``progress`` for :func:`devnet.lifecycle.start`: each step as one stderr line with
    the seconds since ``began`` (a lock keeps the two chains' threads' lines whole)."""
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            print(f"devnet: [{time.monotonic() - began:5.1f}s] {line}", file=sys.stderr, flush=True)
    return say


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devnet", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("--state-dir", default="var", help="where devnet.json, pidfiles and logs live (default: var)")
    parser.add_argument("--ports", default=",".join(map(str, DEFAULT_PORTS)),
                        help="RPC ports of devnet-a,devnet-b (default: %(default)s)")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--solana-port", type=int, default=DEFAULT_SOLANA_PORT,
                        help="RPC port of solana-local (default: %(default)s)")
    parser.add_argument("--no-solana", action="store_true", help="up: start only the EVM chains, not solana-local")
    parser.add_argument("--quiet", action="store_true", help="start anvil with --quiet (empty logs)")
    parser.add_argument("--json", action="store_true", help="status: print machine-readable JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        if args.command == "up":
            began = time.monotonic()
            ports = tuple(int(p) for p in args.ports.split(","))
            was_up = status(args.state_dir).healthy
            say = stderr_progress(began)
            info = start(args.state_dir, ports, args.host, quiet=args.quiet, solana=not args.no_solana,
                         solana_port=args.solana_port, progress=say)
            for chain in info.chains:
                print(f"{chain.name}: chain {chain.chain_id} at {chain.rpc_url} (pid {chain.pid}), "
                      f"settler {chain.contracts.settler}")
            if info.solana is not None:
                print(f"{info.solana['name']}: LiteSVM at {info.solana['rpc_url']} (pid {info.solana['pid']}), "
                      f"USDC mint {info.solana['tokens']['USDC']['mint']}")
            if was_up:
                print(f"devnet already up; nothing redeployed ({devnet_json_path(args.state_dir)})")
            else:
                say("done")
                print(f"devnet up in {time.monotonic() - began:.1f}s; wrote {devnet_json_path(args.state_dir)}")
            return 0
        if args.command == "env":
            print(devnet_env())
            return 0
        if args.command == "down":
            pids = stop(args.state_dir)
            print(f"stopped {len(pids)} process(es)" + (f": {', '.join(map(str, pids))}" if pids else ""))
            return 0
        report = status(args.state_dir)
        if args.json:
            print(json.dumps({"running": report.running, "healthy": report.healthy,
                              "chains": [vars(c) for c in report.chains]}, indent=2))
        elif not report.running:
            print("devnet is not running")
        else:
            for c in report.chains:
                state = "ok" if c.alive and c.rpc_ok and c.deployed else "UNHEALTHY"
                print(f"{c.name}: {state} pid={c.pid} alive={c.alive} rpc={c.rpc_ok} deployed={c.deployed} "
                      f"block={c.block_number}")
        return 0 if report.healthy else (3 if not report.running else 1)
    except DevnetError as exc:
        print(f"devnet: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
