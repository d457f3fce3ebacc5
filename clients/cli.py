"""``orbital``: the console script. User commands talk to a node's public API:

  orbital quote  --from devnet-a --to devnet-b --input USDC --output USDC --amount 100000000 --user 0x..
  orbital submit (same options) --key-env ORBITAL_KEY | --keystore FILE  [--watch]
  orbital watch  ID... | --user 0x..  [--until assigned]
  orbital list   [--user 0x..] [--status pending] [--limit N]
  orbital cancel ID --key-env ORBITAL_KEY | --keystore FILE
  orbital cancel --onchain ID --rpc URL (same key options)  [--watch]
                 (burns the nonce: the settler's invalidateNonce, or Permit2's
                  invalidateUnorderedNonces for a Permit2-form order)
  orbital explain ID   (why it has not filled yet, or why it ended; ETA)

Operator commands (run, check-config, tree, nodes, chains, reload, tasks, funding, strategies,
solvers, shortfall, events, restart-actor, stop-actor, summary, volume, leaderboard) are the
node's (:mod:`node.cli`, which runs this CLI with them added; ``orbital COMMAND --help``):
this module depends on the public API only.
Amounts are base units, or decimals with --decimals (``--amount 100.5 --decimals 6``).
``--json`` prints JSON for scripts. Exit codes: 0 ok; 1 the node refused (the gRPC code and
message go to stderr); 2 a local error (bad option, key, amount); 3 ``watch``: an intent
ended in a terminal state without reaching the one waited for (--until, default SETTLED;
a later status on the way to SETTLED counts as reached); 4 ``watch``:
--watch-timeout passed first; 130 interrupted.
The private key is never printed, logged or put in an error message.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from ._amounts import parse_amount
from ._client import DEFAULT_TARGET, OrbitalClient
from ._errors import ClientError, OrbitalRpcError
from ._format import explanation_lines, intent_lines, list_lines, quote_lines, update_line
from ._keys import Signer, load_key_env, load_keystore
from ._onchain import cancel_onchain
from protocol.transport import TlsOptions
from ._types import IntentStatus

__all__ = ["main", "build_parser", "tls_arguments", "tls_options"]

EXIT_OK, EXIT_RPC, EXIT_LOCAL, EXIT_NOT_REACHED, EXIT_TIMEOUT = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130


def _emit(args, lines: list[str], data) -> None:
    if args.json:
        print(json.dumps(data, sort_keys=True), flush=True)
    else:
        print("\n".join(lines), flush=True)


def tls_options(args) -> TlsOptions | None:
    """TLS from ``--tls-ca/--tls-cert/--tls-key`` (or ``--tls``), else the environment's
    ``ORBITAL_TLS_*``; None: plaintext (a node on loopback)."""
    if args.tls_ca or args.tls_cert or args.tls_key or args.tls:
        return TlsOptions(args.tls_ca, args.tls_cert, args.tls_key)
    return TlsOptions.from_env()


def _client(args) -> OrbitalClient:
    return OrbitalClient(args.target, timeout=args.timeout, tls=tls_options(args))


def _signer(args) -> Signer:
    """The user's key from --keystore (password from ORBITAL_KEYSTORE_PASSWORD or a prompt)
    or from the environment variable named by --key-env (default ORBITAL_KEY)."""
    if args.keystore:
        password = os.environ.get("ORBITAL_KEYSTORE_PASSWORD")
        if password is None:
            if not sys.stdin.isatty():
                raise ClientError("set ORBITAL_KEYSTORE_PASSWORD (no terminal to prompt on)")
            password = getpass.getpass(f"password for {args.keystore}: ")
        return load_keystore(args.keystore, password)
    if not os.environ.get(args.key_env):
        raise ClientError(f"no key: set {args.key_env} (or --key-env VAR) to the user's "
                          "private key, or give --keystore FILE")
    return load_key_env(args.key_env)


# ---- commands ----------------------------------------------------------------------
def _quote(client: OrbitalClient, args, user: str):
    return client.quote(args.origin, args.destination, args.input, args.output,
                        parse_amount(args.amount, args.decimals), user,
                        recipient=args.recipient or "", slippage_bps=args.slippage_bps,
                        signing=args.signing or "")


def cmd_quote(args) -> int:
    if not args.user:
        raise ClientError("--user is required (the address that will sign the order)")
    with _client(args) as client:
        q = _quote(client, args, args.user)
    _emit(args, quote_lines(q, args.decimals), q.to_json())
    return EXIT_OK


def cmd_submit(args) -> int:
    signer = _signer(args)
    if args.user and args.user.lower() != signer.address.lower():
        raise ClientError(f"--user {args.user} is not the key's address {signer.address}")
    with _client(args) as client:
        q = _quote(client, args, signer.address)
        if not args.json:
            print("\n".join(quote_lines(q, args.decimals)), file=sys.stderr)
        intent = client.sign_and_submit(q, signer)
        if args.json:
            print(json.dumps(intent.to_json(), sort_keys=True), flush=True)
        else:
            print(intent.id, flush=True)
        if not args.watch:
            return EXIT_OK
        return _follow(client, args, [intent.id], "", IntentStatus.SETTLED)


def cmd_watch(args) -> int:
    if not args.ids and not args.user:
        raise ClientError("give intent ids or --user")
    until = IntentStatus.parse(args.until) if args.until else IntentStatus.SETTLED
    with _client(args) as client:
        return _follow(client, args, args.ids, args.user or "", until, args.after_version)


_HAPPY_PATH = (IntentStatus.PENDING, IntentStatus.ASSIGNED, IntentStatus.OPENED,
               IntentStatus.FILLED, IntentStatus.SETTLED)


def _reached(status: IntentStatus, until: IntentStatus) -> bool:
    """``status`` is ``until`` or past it on the way to SETTLED (a watch that starts at
    FILLED has passed ``--until opened``); off that path, only the status itself counts."""
    if status in _HAPPY_PATH and until in _HAPPY_PATH:
        return _HAPPY_PATH.index(status) >= _HAPPY_PATH.index(until)
    return status == until


def _follow(client, args, ids, user, until: IntentStatus, after_version: int = 0) -> int:
    """Print each update until every id reached ``until`` (or passed it) or a terminal status."""
    final: dict[str, IntentStatus] = {}
    last: dict[str, IntentStatus] = {}
    stream = client.watch(ids, user, after_version, timeout=args.watch_timeout)
    try:
        for update in stream:
            _emit(args, [update_line(update)], update.to_json())
            intent = update.intent
            last[intent.id] = intent.status
            if _reached(intent.status, until) or intent.terminal:
                final[intent.id] = intent.status
            if ids and all(i in final for i in ids):
                break
    except OrbitalRpcError as exc:
        if exc.code != grpc.StatusCode.DEADLINE_EXCEEDED or args.watch_timeout is None:
            raise
        states = ", ".join(f"{i} {s.name}" for i, s in last.items()) or "no update"
        print(f"orbital {args.command}: gave up after {args.watch_timeout:g} s "
              f"waiting for {until.name} ({states})", file=sys.stderr)
        return EXIT_TIMEOUT
    finally:
        stream.close()
    return EXIT_OK if all(_reached(s, until) for s in final.values()) else EXIT_NOT_REACHED


def cmd_list(args) -> int:
    with _client(args) as client:
        intents = list(client.iter_intents(args.user or "", args.status, args.page_size,
                                           limit=args.limit))
    if args.json:
        print(json.dumps([i.to_json() for i in intents], sort_keys=True))
    else:
        print("\n".join(list_lines(intents)))
    return EXIT_OK


def cmd_get(args) -> int:
    with _client(args) as client:
        intent = client.get(args.id)
    _emit(args, intent_lines(intent), intent.to_json())
    return EXIT_OK


def cmd_explain(args) -> int:
    with _client(args) as client:
        x = client.explain(args.id)
    _emit(args, explanation_lines(x), MessageToDict(x, preserving_proto_field_name=True))
    return EXIT_OK


def cmd_cancel(args) -> int:
    signer = _signer(args)
    if args.onchain:
        return _cancel_onchain(args, signer)
    with _client(args) as client:
        intent = client.cancel(args.id, signer)
    _emit(args, [f"{intent.id} {intent.status.name}"], intent.to_json())
    return EXIT_OK


def _cancel_onchain(args, signer: Signer) -> int:
    """Burn the order's nonce on chain from the user's key (--rpc: an endpoint of the origin
    chain): the origin settler's ``invalidateNonce``, or for an order signed in the Permit2
    form Permit2's ``invalidateUnorderedNonces``; the node's watcher then moves the intent
    to CANCELLED."""
    if not args.rpc:
        raise ClientError("--onchain needs --rpc URL (or ORBITAL_RPC): an RPC endpoint of the "
                          "intent's origin chain")
    with _client(args) as client:
        intent = client.get(args.id)
        if intent.id.lower() != args.id.lower():
            raise ClientError(f"asked for intent {args.id}, the node answered {intent.id}")
        done = cancel_onchain(args.rpc, intent, signer, timeout=args.tx_timeout)
        what = (f"Permit2 nonce {done.nonce} (word {done.word}, mask {done.mask:#x})"
                if done.word is not None and done.mask is not None else f"nonce {done.nonce}")
        doc = {"id": done.intent_id, "tx_hash": done.tx_hash, "block_number": done.block_number,
               "chain_id": done.chain_id, "contract": done.contract, "method": done.method,
               "nonce": str(done.nonce)}
        if done.word is not None and done.mask is not None:
            doc |= {"word": str(done.word), "mask": str(done.mask)}
        _emit(args, [f"{done.intent_id} {what} invalidated on chain {done.chain_id} "
                     f"({done.method} of {done.contract}) in {done.tx_hash} (block "
                     f"{done.block_number}); the intent becomes CANCELLED when the node's "
                     "watcher sees it"], doc)
        if not args.watch:
            return EXIT_OK
        return _follow(client, args, [intent.id], "", IntentStatus.CANCELLED)


# ---- parser ------------------------------------------------------------------------
def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--target", default=os.environ.get("ORBITAL_TARGET", DEFAULT_TARGET),
                   help="node gRPC address (env ORBITAL_TARGET; default %(default)s)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per call, retries included")
    p.add_argument("--json", action="store_true", help="print JSON (one object per line)")
    tls_arguments(p)
    return p


def tls_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("TLS (a node off loopback)")
    g.add_argument("--tls", action="store_true", help="TLS with the system's roots")
    g.add_argument("--tls-ca", metavar="PEM", help="CA of the node's certificate "
                   "(env ORBITAL_TLS_CA)")
    g.add_argument("--tls-cert", metavar="PEM", help="client certificate, for mutual TLS "
                   "(env ORBITAL_TLS_CERT)")
    g.add_argument("--tls-key", metavar="PEM", help="its private key (env ORBITAL_TLS_KEY)")


def _key_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--key-env", default="ORBITAL_KEY", metavar="VAR",
                   help="environment variable holding the private key (default %(default)s)")
    g.add_argument("--keystore", metavar="FILE",
                   help="keystore file (password: ORBITAL_KEYSTORE_PASSWORD or a prompt)")


def _order_options(p: argparse.ArgumentParser, user_required: bool) -> None:
    p.add_argument("--from", dest="origin", required=True, help="origin chain (name or id)")
    p.add_argument("--to", dest="destination", required=True, help="destination chain")
    p.add_argument("--input", required=True, help="input token (symbol or address)")
    p.add_argument("--output", required=True, help="output token (symbol or address)")
    p.add_argument("--amount", required=True, help="input amount: base units, or a decimal "
                   "with --decimals")
    p.add_argument("--decimals", type=int, help="the input token's decimals, for --amount 1.5")
    p.add_argument("--user", required=user_required, help="the signer's address")
    p.add_argument("--recipient", help="who receives the output (default: the user)")
    p.add_argument("--slippage-bps", type=int)
    p.add_argument("--signing", choices=("orbital", "permit2"),
                   help="the form to sign (default: the node chooses, Permit2 when the user's "
                        "allowance to Permit2 covers the input)")


def add_user_subcommands(sub) -> None:
    common = _common()
    p = sub.add_parser("quote", parents=[common], help="price a swap (no signing)")
    _order_options(p, user_required=False)
    p.set_defaults(fn=cmd_quote)

    p = sub.add_parser("submit", parents=[common], help="quote, sign and submit an intent")
    _order_options(p, user_required=False)
    _key_options(p)
    p.add_argument("--watch", action="store_true", help="then follow it until terminal")
    p.add_argument("--watch-timeout", type=float, help="give up watching after this many seconds")
    p.set_defaults(fn=cmd_submit)

    p = sub.add_parser("watch", parents=[common], help="follow intents until terminal")
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--user", help="every intent of this user (runs until interrupted)")
    p.add_argument("--until", help="stop when each intent reaches this status (default settled)")
    p.add_argument("--after-version", type=int, default=0, help="only transitions above this")
    p.add_argument("--watch-timeout", type=float, help="give up after this many seconds")
    p.set_defaults(fn=cmd_watch)

    p = sub.add_parser("list", parents=[common], help="list intents, newest first")
    p.add_argument("--user")
    p.add_argument("--status", type=IntentStatus.parse)
    p.add_argument("--limit", type=int, default=50, help="at most this many (default %(default)s)")
    p.add_argument("--page-size", type=int, default=0)
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("get", parents=[common], help="one intent with its history")
    p.add_argument("id")
    p.set_defaults(fn=cmd_get)

    p = sub.add_parser("explain", parents=[common],
                       help="why an intent has not filled yet (or why it ended), and an ETA")
    p.add_argument("id")
    p.set_defaults(fn=cmd_explain)

    p = sub.add_parser("cancel", parents=[common], help="cancel a PENDING/ASSIGNED intent")
    p.add_argument("id")
    _key_options(p)
    p.add_argument("--onchain", action="store_true", help="burn the order's nonce on chain "
                   "with a transaction from the user's key, so no copy of the signed order can "
                   "ever be opened: the origin settler's invalidateNonce, or for an order "
                   "signed in the Permit2 form (source permit2, as the node reports it) "
                   "Permit2's invalidateUnorderedNonces(nonce >> 8, 1 << (nonce & 0xff)); "
                   "refused, nothing sent, if the nonce is already used on the settler or "
                   "in Permit2's bitmap")
    p.add_argument("--rpc", default=os.environ.get("ORBITAL_RPC", ""), metavar="URL",
                   help="with --onchain: an RPC endpoint of the origin chain (env ORBITAL_RPC)")
    p.add_argument("--tx-timeout", type=float, default=60.0,
                   help="with --onchain: seconds to wait for the transaction to be mined")
    p.add_argument("--watch", action="store_true", help="with --onchain: then follow the "
                   "intent until CANCELLED")
    p.add_argument("--watch-timeout", type=float, help="give up watching after this many seconds")
    p.set_defaults(fn=cmd_cancel)


def build_parser(extra: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The parser of the user commands; ``extra(subparsers)`` adds more (the node's)."""
    parser = argparse.ArgumentParser(prog="orbital", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    if extra is not None:
        extra(sub)
    add_user_subcommands(sub)
    return parser


def main(argv: list[str] | None = None, extra: Callable[[Any], None] | None = None) -> int:
    args = build_parser(extra).parse_args(argv)
    try:
        return args.fn(args)
    except OrbitalRpcError as exc:
        print(f"orbital {args.command}: {exc.method or 'rpc'} failed: {exc.code.name}: "
              f"{exc.message}", file=sys.stderr)
        for field, description in exc.violations:
            print(f"  {field}: {description}", file=sys.stderr)
        for kind, subject, description in exc.preconditions:
            print(f"  {kind} {subject}: {description}", file=sys.stderr)
        return EXIT_RPC
    except (ClientError, ValueError) as exc:
        print(f"orbital {args.command}: {exc}", file=sys.stderr)
        return EXIT_LOCAL
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
