"""One Solana chain as the solver uses it: its SPL and SOL balances, and the fill transaction.

The fill (docs/solana.md, "fill format"): ONE legacy transaction signed by the solver's Solana
key, holding (1) the recipient's associated token account created idempotently (a wallet
that never held the mint has none), (2) an SPL ``TransferChecked`` of the awarded amount from
the solver's associated token account to the recipient's, (3) a Memo v2 whose text is the
order id (``0x`` + 64 lower-case hex). All three land or none does.

Never twice: the signed transaction goes to the :class:`~solver._journal.FillJournal` before
it is sent; a later run for the same order follows the recorded signature
(``getSignatureStatuses`` with history, re-broadcasting the same bytes while its blockhash is
valid) and builds a new one only when the block height has passed the blockhash's
``lastValidBlockHeight`` (read first) and the signature is still unknown (read after): from
then on the old transaction can never land. The same rule as the node's Solana sender, kept
here because the solver may not import the node's chain library.

A small JSON-RPC client over ``urllib`` with failover between the configured URLs: a
transport error tries the next URL; an RPC error (the node answered) is the answer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol.solana import (associated_token_address, create_associated_token_account_idempotent,
                             memo, sign_transaction, spl_transfer_checked)

from ._journal import FAILED, LANDED, FillJournal, FillRecord
from ._solana_config import SolanaChainSpec, SolanaKey

__all__ = ["SolanaChain", "SolanaFill", "SolanaRpcError"]

log = logging.getLogger("orbital.solver.solana")

_LEVELS = {"processed": 0, "confirmed": 1, "finalized": 2}
POLL_SECONDS = 0.25
REBROADCAST_SECONDS = 2.0
MAX_BUILDS = 3               # new transactions (new blockhash) per fill call
DEADLINE_MARGIN = 5          # seconds before fillDeadline after which no new transfer is built


class SolanaRpcError(RuntimeError):
    """The node answered with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: {code} {message}")
        self.code = code


@dataclass(frozen=True)
class SolanaFill:
    """A fill's outcome: ``ok`` with the signature that landed (``again``: it had landed
    before this call), or not with the ``error`` (``signature``: the one recorded, if any)."""

    ok: bool
    signature: str = ""
    error: str = ""
    again: bool = False


def reached(status: dict[str, Any] | None, commitment: str) -> bool:
    level = (status or {}).get("confirmationStatus") or "processed"
    return _LEVELS.get(level, 0) >= _LEVELS[commitment]


class SolanaChain:
    """Thread-safe: reads run anywhere; fills of one order are serialised (a re-delivered
    award running beside the first cannot build a second transfer)."""

    def __init__(self, spec: SolanaChainSpec, key: SolanaKey, journal: FillJournal, *,
                 rpc_timeout: float = 10.0, confirm_timeout: float = 30.0,
                 before_send: Callable[[], None] | None = None) -> None:
        self.spec = spec
        self._key = key
        self.journal = journal
        self.rpc_timeout = rpc_timeout
        self.confirm_timeout = confirm_timeout
        # Called right before each transaction goes out; raising stops it (as on EvmChain).
        self.before_send = before_send
        self._lock = threading.Lock()
        self._orders: dict[str, threading.Lock] = {}
        self._url = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def chain_id(self) -> int:
        return self.spec.chain_id

    @property
    def address(self) -> str:
        return self._key.pubkey

    def __repr__(self) -> str:
        return f"SolanaChain({self.name}, {self.chain_id}, {self.spec.rpc_urls[0]})"

    # ---- JSON-RPC ------------------------------------------------------------------------
    def call(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        urls = self.spec.rpc_urls
        last: Exception | None = None
        for i in range(len(urls)):
            index = (self._url + i) % len(urls)
            request = urllib.request.Request(urls[index], data=body,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.rpc_timeout) as response:
                    reply = json.loads(response.read())
            except (OSError, ValueError) as exc:   # URLError, timeouts, a non-JSON reply
                last = exc
                continue
            self._url = index
            if not isinstance(reply, dict):
                last = ValueError(f"{method}: not a JSON-RPC reply")
                continue
            if reply.get("error") is not None:
                err = reply["error"]
                raise SolanaRpcError(method, int(err.get("code", 0)), str(err.get("message", "")))
            return reply.get("result")
        raise ConnectionError(f"{self.name}: no RPC URL answered {method}: {last}")

    # ---- reads ---------------------------------------------------------------------------
    def token_account(self, owner: str | None = None, mint: str = "") -> str:
        return associated_token_address(owner or self.address, mint)

    def token_balance(self, mint: str, owner: str | None = None) -> int:
        """Base units of ``mint`` in ``owner``'s (default: the solver's) associated token
        account; 0 when it has none."""
        account = self.token_account(owner, mint)
        try:
            value = self.call("getTokenAccountBalance", account, {"commitment": self.spec.commitment})
        except SolanaRpcError as exc:
            if exc.code == -32602:   # not a token account: none created yet
                return 0
            raise
        return int(value["value"]["amount"])

    def lamports(self, owner: str | None = None) -> int:
        value = self.call("getBalance", owner or self.address, {"commitment": self.spec.commitment})
        return int(value["value"])

    def spendable(self, mint: str) -> int:
        """What a fill can move: the SPL balance of a served mint, or 0 while the solver's SOL
        is below the chain's ``min_lamports`` (it could not pay the fee and a recipient's
        token account rent)."""
        if self.spec.token(mint) is None:
            return 0
        if self.lamports() < self.spec.min_lamports:
            return 0
        return self.token_balance(mint)

    def statuses(self, signatures: list[str]) -> list[dict[str, Any] | None]:
        value = self.call("getSignatureStatuses", signatures, {"searchTransactionHistory": True})
        return list(value["value"])

    def block_height(self) -> int:
        return int(self.call("getBlockHeight", {"commitment": "finalized"}))

    # ---- the fill ------------------------------------------------------------------------
    def recorded(self, order_id: str) -> FillRecord | None:
        """The journal's transaction for this order's fill (None: none was ever signed)."""
        return self.journal.get(self._journal_key(order_id))

    def fill(self, order_id: str, recipient: str, mint: str, amount: int, fill_deadline: int,
             may_send: Callable[[], str] = lambda: "") -> SolanaFill:
        """Deliver ``amount`` of ``mint`` to ``recipient``'s associated token account, tagged
        with ``order_id``; once per order, across retries and restarts. ``may_send`` is asked
        before a NEW transaction is built: a non-empty answer (why not) stops it."""
        key = self._journal_key(order_id)
        with self._lock:
            order_lock = self._orders.setdefault(key, threading.Lock())
        with order_lock:
            return self._fill(key, order_id, recipient, mint, amount, fill_deadline, may_send)

    def _fill(self, key: str, order_id: str, recipient: str, mint: str, amount: int,
              fill_deadline: int, may_send: Callable[[], str]) -> SolanaFill:
        token = self.spec.token(mint)
        if token is None:
            return SolanaFill(False, error=f"mint {mint} is not a token of {self.name}")
        record = self.journal.get(key)
        if record is not None and (record.recipient, record.mint) != (recipient, token.mint):
            # The escrow check passed for these terms, and an order id's escrow cannot change
            # its terms: a journal naming others is not this solver's doing. Stop, send nothing.
            return SolanaFill(False, record.signature,
                              f"journal holds a fill of {record.mint} to {record.recipient} for this order")
        again = record is not None
        builds = 0

        def check() -> str:
            return may_send() or self._too_late(fill_deadline)

        while True:
            if record is not None and record.status == LANDED:
                return SolanaFill(True, record.signature, again=again)
            if record is None or record.status == FAILED:
                why = check()
                if why:
                    return SolanaFill(False, record.signature if record else "", why)
                if builds >= MAX_BUILDS:
                    return SolanaFill(False, record.signature if record else "",
                                      f"{builds} transactions expired unconfirmed")
                record = self._build(key, order_id, recipient, token.mint, token.decimals, amount, record)
                builds += 1
                again = False
                refused = self._send(key, record, first=True)
                if refused:
                    # Refused by the node's preflight (it would fail: funds, mint, decimals):
                    # not sent again; not proof it never lands either (a failover node may
                    # have forwarded it), so the record stays for the next run to follow.
                    return SolanaFill(False, record.signature, f"refused: {refused}")
                outcome = self._follow(key, record, check, sent_now=True)
            else:
                outcome = self._follow(key, record, check)
            if isinstance(outcome, SolanaFill):
                return SolanaFill(outcome.ok, outcome.signature, outcome.error,
                                  again=again and outcome.ok)
            record = outcome    # expired, proven unknown: build anew

    def _build(self, key: str, order_id: str, recipient: str, mint: str, decimals: int,
               amount: int, old: FillRecord | None) -> FillRecord:
        """Sign the fill and record it (durably) before anything is sent."""
        latest = self.call("getLatestBlockhash", {"commitment": "finalized"})["value"]
        me = self.address
        instructions = [create_associated_token_account_idempotent(me, recipient, mint),
                        spl_transfer_checked(me, mint, recipient, amount, decimals),
                        memo(order_id)]
        signed = sign_transaction(instructions, self._key.keypair, latest["blockhash"])
        record = FillRecord(signed.signature, signed.wire, signed.blockhash,
                            int(latest["lastValidBlockHeight"]), amount, recipient, mint,
                            replaced=(old.replaced + [old.signature]) if old else [])
        self.journal.put(key, record)
        log.info("fill of %s on %s recorded: %s", order_id, self.name, record.signature)
        return record

    def _send(self, key: str, record: FillRecord, *, first: bool) -> str:
        """Send the recorded bytes (the first time with preflight); the refusal, if the node
        refused them. A transport error is not a refusal (the status decides)."""
        if self.before_send is not None:
            self.before_send()
        try:
            self.call("sendTransaction", record.wire, {"encoding": "base64", "skipPreflight": not first,
                                                       "preflightCommitment": self.spec.commitment,
                                                       "maxRetries": 0})
        except SolanaRpcError as exc:
            log.info("send of %s on %s refused: %s", record.signature, self.name, exc)
            if not record.sent:
                record.error = str(exc)
                self.journal.put(key, record)
            return str(exc)
        except ConnectionError as exc:
            log.info("send of %s on %s: %s", record.signature, self.name, exc)
            return ""
        if not record.sent:
            record.sent, record.error = True, ""
            self.journal.put(key, record)
        return ""

    def _follow(self, key: str, record: FillRecord, may_send: Callable[[], str], *,
                sent_now: bool = False) -> SolanaFill | FillRecord:
        """Wait for the recorded signature: landed (ok), landed with an error (failed, the
        record open to a new attempt), expired and proven unknown (the record to replace), or
        the timeout (failed; the record stays pending for the next run). ``may_send`` is asked
        before a record no node accepted yet (a crash right after recording) is first sent:
        not sending it is always safe, sending it after the award was voided or too close
        to fillDeadline is not."""
        deadline = time.monotonic() + self.confirm_timeout
        last_send = time.monotonic()
        resent = sent_now
        while True:
            status = self.statuses([record.signature])[0]
            if status is not None and status.get("err") is not None:
                record.status, record.error = FAILED, f"landed with error {status['err']}"
                self.journal.put(key, record)
                return SolanaFill(False, record.signature, record.error)
            if status is not None and reached(status, self.spec.commitment):
                record.status, record.error = LANDED, ""
                self.journal.put(key, record)
                return SolanaFill(True, record.signature)
            if status is None:
                height = self.block_height()                           # read first ...
                if height > record.last_valid_block_height and \
                        self.statuses([record.signature])[0] is None:   # ... then the status
                    log.info("fill %s on %s expired unseen: building anew", record.signature, self.name)
                    return dataclasses.replace(record, status=FAILED,
                                               error="blockhash expired, never landed")
                if (record.sent or not record.error) and \
                        (not resent or time.monotonic() - last_send >= REBROADCAST_SECONDS):
                    # accepted once and maybe dropped, or never sent (a crash between record
                    # and send): the same bytes. One the nodes refused is not forced through.
                    why = "" if record.sent else may_send()
                    if why:
                        return SolanaFill(False, record.signature, why)
                    refused = self._send(key, record, first=not record.sent)
                    resent, last_send = True, time.monotonic()
                    if refused and not record.sent:
                        return SolanaFill(False, record.signature, f"refused: {refused}")
            if time.monotonic() >= deadline:
                return SolanaFill(False, record.signature,
                                  f"not {self.spec.commitment} within {self.confirm_timeout:.0f}s "
                                  "(recorded: a retry follows the same signature)")
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _too_late(fill_deadline: int) -> str:
        if fill_deadline and time.time() >= fill_deadline - DEADLINE_MARGIN:
            return "fillDeadline is (about to be) past: a transfer now would not be a fill"
        return ""

    def _journal_key(self, order_id: str) -> str:
        return f"{self.chain_id}:{order_id.lower()}"
