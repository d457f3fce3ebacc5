"""solana-local: a Solana JSON-RPC 2.0 server over HTTP, backed by one LiteSVM instance.

``python -m devnet.solana_rpc [--host 127.0.0.1] [--port 8899] [--state-dir var] [--slot-ms 400]``

Implements the subset of the Solana RPC API a client and a chain watcher need (see
devnet/README.md). At start it seeds the deterministic devnet state (devnet.solana_keys): SOL for
every account, the SPL ``USDC`` mint, and each account's funded associated token account. The
server only answers once that is done, so ``getHealth`` == "ok" means ready. State is in memory.
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID

from devnet.solana_codec import b58decode, b58encode, ui_transaction
from devnet.solana_keys import DEFAULT_SOLANA_PORT, GENESIS_HASH
from devnet.solana_svm import Fault, SolanaChain, TxRecord

__all__ = ["SolanaRpcServer", "main", "serve"]

VERSION = {"solana-core": "2.2.0", "feature-set": 0}
MAX_BODY = 50 * 1024 * 1024
MAX_FEE_ACCOUNTS = 128  # getRecentPrioritizationFees: accounts per request, as a node


def _params(params: Any, n_required: int) -> list:
    if params is None:
        params = []
    if not isinstance(params, list) or len(params) < n_required:
        raise Fault(-32602, f"Invalid params: expected at least {n_required} parameter(s)")
    return params


def _config(params: list, index: int) -> dict:
    cfg = params[index] if len(params) > index else None
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise Fault(-32602, "Invalid params: config must be an object")
    return cfg


def _pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (ValueError, TypeError):
        raise Fault(-32602, f"Invalid param: Invalid pubkey {value!r}") from None


def _signature(value: Any) -> Signature:
    try:
        return Signature.from_string(value)
    except (ValueError, TypeError):
        raise Fault(-32602, f"Invalid param: Invalid signature {value!r}") from None


def _decode_tx(params: list) -> VersionedTransaction:
    cfg = _config(params, 1)
    encoding = cfg.get("encoding", "base58")
    try:
        if encoding == "base64":
            raw = base64.b64decode(params[0], validate=True)
        elif encoding == "base58":
            raw = b58decode(params[0])
        else:
            raise Fault(-32602, f"Invalid params: unsupported encoding: {encoding}. Supported encodings: base58, base64")
        return VersionedTransaction.from_bytes(raw)
    except Fault:
        raise
    except (ValueError, TypeError) as exc:
        raise Fault(-32602, f"failed to deserialize solana_transaction::versioned::VersionedTransaction: {exc}") from None


class Methods:
    """One method per RPC call; ``params`` is the request's params list."""

    def __init__(self, chain: SolanaChain, *, finalized_lag: int = 0) -> None:
        self.chain = chain
        # Slots between the newest slot and the newest ``finalized`` one. 0 (the default):
        # everything is finalized at once, as LiteSVM has no votes. A node's finalized slot
        # trails by 31+ slots; tests that must see "landed, not finalized yet" set it.
        self.finalized_lag = finalized_lag

    def _finalized_slot(self) -> int:
        """The last closed slot (no transaction lands there any more), ``finalized_lag``
        slots further back when a test holds finality behind."""
        return max(0, self.chain.slot - 1 - self.finalized_lag)

    def _visible(self, slot: int, cfg: dict) -> bool:
        """Is a transaction of ``slot`` there at the request's commitment?"""
        return cfg.get("commitment") != "finalized" or slot <= self._finalized_slot()

    def _level(self, slot: int) -> str:
        return "finalized" if slot <= self._finalized_slot() else "confirmed"

    def _ctx(self, value: Any) -> dict[str, Any]:
        return {"context": {"slot": self.chain.slot, "apiVersion": VERSION["solana-core"]}, "value": value}

    def _account_json(self, pubkey: Pubkey, cfg: dict) -> dict[str, Any] | None:
        acct = self.chain.account(pubkey)
        if acct is None:
            return None
        data = bytes(acct.data)
        if (slice_ := cfg.get("dataSlice")) is not None:
            data = data[slice_["offset"]:slice_["offset"] + slice_["length"]]
        encoding = cfg.get("encoding", "base64")
        encoded = [b58encode(data), "base58"] if encoding == "base58" else [base64.b64encode(data).decode(), "base64"]
        return {"data": encoded, "executable": acct.executable, "lamports": acct.lamports, "owner": str(acct.owner),
                "rentEpoch": acct.rent_epoch, "space": len(acct.data)}

    def getHealth(self, params: list) -> str:
        return "ok"

    def getVersion(self, params: list) -> dict:
        return dict(VERSION)

    def getGenesisHash(self, params: list) -> str:
        return GENESIS_HASH

    def getSlot(self, params: list) -> int:
        """``processed``: the slot being filled now. ``confirmed``: the last closed slot, as on
        a real cluster, where no transaction can land in a slot once it is confirmed (the
        open slot there let a reader move its cursor to a slot a transaction then landed
        in). ``finalized``: that too, or ``finalized_lag`` slots behind it."""
        commitment = _config(params or [], 0).get("commitment", "finalized")
        if commitment == "processed":
            return self.chain.slot
        return self._finalized_slot() if commitment == "finalized" else max(self.chain.slot - 1, 0)

    def getBlockHeight(self, params: list) -> int:
        return self.chain.block_height

    def getEpochInfo(self, params: list) -> dict:
        with self.chain.lock:
            return {"absoluteSlot": self.chain.slot, "blockHeight": self.chain.block_height, "epoch": 0,
                    "slotIndex": self.chain.slot, "slotsInEpoch": 2**63, "transactionCount": self.chain.tx_count}

    def getTransactionCount(self, params: list) -> int:
        return self.chain.tx_count

    def getLatestBlockhash(self, params: list) -> dict:
        blockhash, last_valid = self.chain.latest_blockhash()
        return self._ctx({"blockhash": blockhash, "lastValidBlockHeight": last_valid})

    def isBlockhashValid(self, params: list) -> dict:
        p = _params(params, 1)
        return self._ctx(self.chain.blockhash_valid(str(p[0])))

    def getBalance(self, params: list) -> dict:
        p = _params(params, 1)
        acct = self.chain.account(_pubkey(p[0]))
        return self._ctx(acct.lamports if acct is not None else 0)

    def getAccountInfo(self, params: list) -> dict:
        p = _params(params, 1)
        return self._ctx(self._account_json(_pubkey(p[0]), _config(p, 1)))

    def getMultipleAccounts(self, params: list) -> dict:
        p = _params(params, 1)
        if not isinstance(p[0], list) or len(p[0]) > 100:
            raise Fault(-32602, "Invalid params: expected a list of at most 100 pubkeys")
        keys = [_pubkey(k) for k in p[0]]
        cfg = _config(p, 1)
        with self.chain.lock:
            return self._ctx([self._account_json(k, cfg) for k in keys])

    def getMinimumBalanceForRentExemption(self, params: list) -> int:
        p = _params(params, 1)
        if not isinstance(p[0], int) or p[0] < 0:
            raise Fault(-32602, "Invalid params: data length must be a non-negative integer")
        with self.chain.lock:
            return self.chain.svm.minimum_balance_for_rent_exemption(p[0])

    def requestAirdrop(self, params: list) -> str:
        p = _params(params, 2)
        if not isinstance(p[1], int) or p[1] <= 0:
            raise Fault(-32602, "Invalid params: lamports must be a positive integer")
        return self.chain.airdrop(_pubkey(p[0]), p[1])

    def sendTransaction(self, params: list) -> str:
        p = _params(params, 1)
        tx = _decode_tx(p)
        return self.chain.send(tx, skip_preflight=bool(_config(p, 1).get("skipPreflight", False)))

    def simulateTransaction(self, params: list) -> dict:
        p = _params(params, 1)
        cfg = _config(p, 1)
        tx = _decode_tx(p)
        replace = bool(cfg.get("replaceRecentBlockhash", False))
        sig_verify = bool(cfg.get("sigVerify", False))
        if replace and sig_verify:
            raise Fault(-32602, "sigVerify may not be used with replaceRecentBlockhash")
        return self._ctx(self.chain.simulate(tx, sig_verify=sig_verify, replace_blockhash=replace))

    def _status(self, record: TxRecord) -> dict:
        return {"slot": record.slot, "confirmations": None, "err": record.err,
                "status": {"Ok": None} if record.err is None else {"Err": record.err},
                "confirmationStatus": self._level(record.slot)}

    def getSignatureStatuses(self, params: list) -> dict:
        p = _params(params, 1)
        if not isinstance(p[0], list) or len(p[0]) > 256:
            raise Fault(-32602, "Invalid params: expected a list of at most 256 signatures")
        sigs = [str(_signature(s)) for s in p[0]]
        with self.chain.lock:
            records = [self.chain.records.get(s) for s in sigs]
        return self._ctx([self._status(r) if r is not None else None for r in records])

    def getTransaction(self, params: list) -> dict | None:
        p = _params(params, 1)
        sig = str(_signature(p[0]))
        cfg = {"encoding": p[1]} if len(p) > 1 and isinstance(p[1], str) else _config(p, 1)  # old form: encoding
        with self.chain.lock:
            record = self.chain.records.get(sig)
        if record is None or not self._visible(record.slot, cfg):
            return None
        tx = record.tx
        is_v0 = isinstance(tx.version(), int)
        max_version = cfg.get("maxSupportedTransactionVersion")
        if is_v0 and max_version is None:
            raise Fault(-32015, "Transaction version (0) is not supported by the requesting client. "
                                "Please try the request again with the following configuration parameter: "
                                "\"maxSupportedTransactionVersion\": 0")
        encoding = cfg.get("encoding", "json")
        if encoding == "base64":
            transaction: Any = [base64.b64encode(bytes(tx)).decode(), "base64"]
        elif encoding == "base58":
            transaction = [b58encode(bytes(tx)), "base58"]
        else:
            transaction = ui_transaction(tx)
        out = {"slot": record.slot, "blockTime": record.block_time, "transaction": transaction, "meta": {
            "err": record.err, "status": {"Ok": None} if record.err is None else {"Err": record.err},
            "fee": record.fee, "preBalances": record.pre_balances, "postBalances": record.post_balances,
            "innerInstructions": [], "logMessages": record.logs,
            "preTokenBalances": self._token_balances(record.pre_tokens),
            "postTokenBalances": self._token_balances(record.post_tokens),
            "rewards": [], "loadedAddresses": {"writable": [], "readonly": []},
            "computeUnitsConsumed": record.units}}
        if max_version is not None:
            out["version"] = 0 if is_v0 else "legacy"
        return out

    def _token_balances(self, balances: list[tuple[int, str, str, int]]) -> list[dict[str, Any]]:
        """A meta's pre/postTokenBalances, as a node returns them."""
        with self.chain.lock:
            return [{"accountIndex": index, "mint": mint, "owner": owner, "programId": str(TOKEN_PROGRAM_ID),
                     "uiTokenAmount": self._amount(amount, Pubkey.from_string(mint))}
                    for index, mint, owner, amount in balances]

    def _token_account(self, pubkey: Pubkey, kind: str) -> bytes:
        acct = self.chain.account(pubkey)
        size = 165 if kind == "account" else 82
        if acct is None or acct.owner != TOKEN_PROGRAM_ID or len(acct.data) < size:
            raise Fault(-32602, f"Invalid param: not a Token {'account' if kind == 'account' else 'mint'}")
        return bytes(acct.data)

    def _amount(self, amount: int, mint: Pubkey) -> dict:
        decimals = self._token_account(mint, "mint")[44]
        ui = amount / 10**decimals
        text = f"{amount / 10**decimals:.{decimals}f}".rstrip("0").rstrip(".") if decimals else str(amount)
        return {"amount": str(amount), "decimals": decimals, "uiAmount": ui, "uiAmountString": text}

    def getTokenAccountBalance(self, params: list) -> dict:
        p = _params(params, 1)
        with self.chain.lock:
            data = self._token_account(_pubkey(p[0]), "account")
            return self._ctx(self._amount(int.from_bytes(data[64:72], "little"), Pubkey(data[0:32])))

    def getTokenSupply(self, params: list) -> dict:
        p = _params(params, 1)
        mint = _pubkey(p[0])
        with self.chain.lock:
            data = self._token_account(mint, "mint")
            return self._ctx(self._amount(int.from_bytes(data[36:44], "little"), mint))

    def getRecentPrioritizationFees(self, params: list) -> list:
        """[{slot, prioritizationFee}] over the recent closed slots (see SlotFees.fee)."""
        p = _params(params, 0)
        accounts = p[0] if p and p[0] is not None else []
        if not isinstance(accounts, list):
            raise Fault(-32602, "Invalid params: expected a list of account addresses")
        if len(accounts) > MAX_FEE_ACCOUNTS:
            raise Fault(-32602, f"Too many inputs provided; max {MAX_FEE_ACCOUNTS}")
        keys = [str(_pubkey(a)) for a in accounts]
        return [{"slot": slot, "prioritizationFee": fee} for slot, fee in self.chain.prioritization_fees(keys)]

    def getSignaturesForAddress(self, params: list) -> list:
        p = _params(params, 1)
        address = str(_pubkey(p[0]))
        cfg = _config(p, 1)
        limit = cfg.get("limit") or 1000
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise Fault(-32602, "Invalid limit; max 1000")
        before = str(_signature(cfg["before"])) if cfg.get("before") else None
        until = str(_signature(cfg["until"])) if cfg.get("until") else None
        return [{"signature": r.signature, "slot": r.slot, "err": r.err, "memo": None, "blockTime": r.block_time,
                 "confirmationStatus": self._level(r.slot)}
                for r in self.chain.signatures_for(address, limit, before, until)]


def _error(code: int, message: str, req_id: Any = None, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "error": err, "id": req_id}


def handle_one(methods: Methods, request: Any) -> dict[str, Any] | None:
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
        return _error(-32600, "Invalid request", request.get("id") if isinstance(request, dict) else None)
    req_id = request.get("id")
    name = request["method"]
    fn = getattr(methods, name, None) if not name.startswith("_") and name[:1].islower() else None
    if fn is None:
        return _error(-32601, "Method not found", req_id)
    try:
        result = fn(_params(request.get("params"), 0))
    except Fault as fault:
        return _error(fault.code, fault.message, req_id, fault.data)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        return _error(-32602, f"Invalid params: {exc}", req_id)
    except Exception as exc:  # noqa: BLE001 - a bug must not kill the server
        return _error(-32603, f"Internal error: {exc}", req_id)
    return {"jsonrpc": "2.0", "result": result, "id": req_id}


def handle_body(methods: Methods, body: bytes) -> Any:
    """The reply to one HTTP body: an object, a list (batch), or None (nothing to send)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(-32700, "Parse error")
    if isinstance(payload, list):
        if not payload:
            return _error(-32600, "Invalid request")
        return [handle_one(methods, r) for r in payload]
    return handle_one(methods, payload)


class _Handler(BaseHTTPRequestHandler):
    server: SolanaRpcServer
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, b"")
            return
        reply = handle_body(self.server.methods, self.rfile.read(length))
        self._send(200, json.dumps(reply).encode())

    def do_GET(self) -> None:  # noqa: N802 - GET /health, as on a real node
        if self.path == "/health":
            self._send(200, b"ok", "text/plain")
        else:
            self._send(404, b"")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            super().log_message(format, *args)


class SolanaRpcServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, chain: SolanaChain | None = None, *, slot_ms: int = 400,
                 verbose: bool = False, finalized_lag: int = 0) -> None:
        self.chain = chain or SolanaChain()
        self.methods = Methods(self.chain, finalized_lag=finalized_lag)
        self.verbose = verbose
        self._ticker_stop = threading.Event()
        super().__init__((host, port), _Handler)
        if slot_ms > 0:
            threading.Thread(target=self._tick, args=(slot_ms / 1000,), daemon=True).start()

    def _tick(self, period: float) -> None:
        """Close an empty block every ``period`` seconds so slots advance and old blockhashes expire."""
        while not self._ticker_stop.wait(period):
            self.chain.new_block()

    def server_close(self) -> None:
        self._ticker_stop.set()
        super().server_close()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        assert isinstance(host, str), "an AF_INET server's address is a (host, port) pair"
        return f"http://{host}:{port}"


def serve(host: str = "127.0.0.1", port: int = DEFAULT_SOLANA_PORT, *, slot_ms: int = 400,
          verbose: bool = False) -> SolanaRpcServer:
    """A started server (serving in a daemon thread); ``port=0`` picks a free port. Call shutdown()."""
    server = SolanaRpcServer(host, port, slot_ms=slot_ms, verbose=verbose)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet.solana_rpc", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_SOLANA_PORT)
    parser.add_argument("--state-dir", default="var", help="the devnet state dir (state itself is in memory)")
    parser.add_argument("--slot-ms", type=int, default=400, help="close an empty block this often; 0: only per tx")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)
    server = SolanaRpcServer(args.host, args.port, slot_ms=args.slot_ms, verbose=args.verbose)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"solana-local: LiteSVM RPC at {server.url} (state dir {args.state_dir})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
