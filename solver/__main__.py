"""``orbital-solver``: run the reference solver against a node until Ctrl-C / SIGTERM.

Flags override the YAML file (``--config``); the key comes from ``$ORBITAL_SOLVER_KEY`` (or
``--key-env NAME``), a keystore (``--keystore``, password from ``$ORBITAL_SOLVER_KEYSTORE_PASSWORD``)
or, on a devnet only, ``--devnet-account solver``. The Solana key (for fills on a Solana
chain) from ``$ORBITAL_SOLVER_SOLANA_KEY``, ``--solana-key-file`` or, on a devnet, the same
role's Solana account. Exit codes: 0 stopped, 2 bad configuration,
3 refused by the node (not an allowed solver, unknown chain or token).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from ._config import SolverConfigError, load_config
from ._solver import Solver

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="orbital-solver", description=__doc__.split("\n")[0])
    p.add_argument("--config", "-c", help="YAML config file (see docs/reference-solver.md)")
    p.add_argument("--target", help="node gRPC address (default 127.0.0.1:50051)")
    p.add_argument("--tls-ca", help="TLS: CA of the node's certificate (a node off loopback)")
    p.add_argument("--tls-cert", help="TLS: client certificate, for mutual TLS")
    p.add_argument("--tls-key", help="TLS: the client certificate's key")
    p.add_argument("--devnet-dir", help="state dir with devnet.json (default var)")
    p.add_argument("--devnet-account", help="devnet only: use this role's key (e.g. solver)")
    p.add_argument("--key-env", help="env var holding the hex private key (default ORBITAL_SOLVER_KEY)")
    p.add_argument("--keystore", help="encrypted JSON keystore file")
    p.add_argument("--password-env", help="env var with the keystore password")
    p.add_argument("--solana-key-env", help="env var holding the base58 Solana keypair "
                                            "(default ORBITAL_SOLVER_SOLANA_KEY)")
    p.add_argument("--solana-key-file", help="Solana keypair file (JSON array of 64 bytes)")
    p.add_argument("--solana-devnet-account", help="devnet only: this Solana role's key "
                                                   "(default: --devnet-account)")
    p.add_argument("--state-dir", help="the solver's state: its Solana fill journal (default var/solver)")
    p.add_argument("--tokens", help="comma-separated output token symbols to serve (default all)")
    p.add_argument("--improvement-bps", type=int, help="bid = minimum output + this many bps (default 10)")
    p.add_argument("--max-parallel", type=int, help="awards executed at once (default 4)")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tokens = [t for t in args.tokens.split(",") if t] if args.tokens else None
    try:
        config = load_config(args.config, target=args.target, devnet_dir=args.devnet_dir,
                             devnet_account=args.devnet_account, key_env=args.key_env,
                             keystore=args.keystore, password_env=args.password_env, tokens=tokens,
                             improvement_bps=args.improvement_bps, max_parallel=args.max_parallel,
                             tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key,
                             solana_key_env=args.solana_key_env, solana_key_file=args.solana_key_file,
                             solana_devnet_account=args.solana_devnet_account, state_dir=args.state_dir)
    except SolverConfigError as exc:
        print(f"orbital-solver: {exc}", file=sys.stderr)
        return 2
    solver = Solver(config)

    def _terminate(signum, _frame):
        logging.getLogger("orbital.solver").info("signal %d: stopping", signum)
        solver.request_stop()   # the run loop returns; main finishes the shutdown

    signal.signal(signal.SIGTERM, _terminate)
    try:
        solver.run()
    except KeyboardInterrupt:
        pass
    finally:
        solver.stop()
    if solver.error:
        print(f"orbital-solver: refused by the node: {solver.error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
