"""Solana JSON-RPC over several URLs of one chain, with failover.

solana-py's clients bind one URL each (and 0.41 ships only the async one), like web3.py's
providers, so the failover, backoff and health bookkeeping are the node's own JSON-RPC
client's (:class:`chains.evm.rpc.RpcClient`: plain JSON-RPC 2.0 over ``requests``, nothing
EVM in it), and this module adds the Solana methods on top with their replies checked.
Errors are that client's: :class:`RpcUnavailable` (no URL answered; nothing half-done, the
caller retries later) and :class:`RpcError` (the node answered with an error).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

from chains.evm.rpc import RpcClient, RpcError, RpcUnavailable

__all__ = ["SolanaRpc", "RpcError", "RpcUnavailable"]

_METHOD_NOT_FOUND = -32601


def _uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class SolanaRpc:
    def __init__(self, urls: Sequence[str], *, timeout: float = 10.0,
                 backoff_max: float = 30.0) -> None:
        self.client = RpcClient(urls, timeout=timeout, backoff_max=backoff_max)

    @property
    def active_url(self) -> str:
        return self.client.active_url

    def health(self) -> list[dict[str, Any]]:
        return self.client.health()

    def slot(self, commitment: str) -> int:
        """``getSlot`` at ``commitment`` (processed, confirmed, finalized)."""
        slot = self.client.call("getSlot", [{"commitment": commitment}])
        if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
            raise RpcError(f"getSlot: not a slot: {str(slot)[:100]}")
        return slot

    def slots(self, *commitments: str) -> list[int]:
        """Several ``getSlot`` in one batch request: one round trip, one endpoint."""
        replies = self.client.batch([("getSlot", [{"commitment": c}]) for c in commitments])
        for slot in replies:
            if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
                raise RpcError(f"getSlot: not a slot: {str(slot)[:100]}")
        return replies

    def signatures(self, address: str, *, commitment: str, limit: int,
                   before: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
        """``getSignaturesForAddress``: newest first, at most ``limit``, older than
        ``before`` and newer than ``until`` (each left out when None)."""
        cfg: dict[str, Any] = {"commitment": commitment, "limit": limit}
        if before:
            cfg["before"] = before
        if until:
            cfg["until"] = until
        reply = self.client.call("getSignaturesForAddress", [address, cfg])
        if not isinstance(reply, list) or not all(
                isinstance(r, dict) and isinstance(r.get("signature"), str)
                and isinstance(r.get("slot"), int) for r in reply):
            raise RpcError(f"getSignaturesForAddress: not a list of signatures: {str(reply)[:100]}")
        return reply

    def transactions(self, signatures: Sequence[str], *, commitment: str) -> list[dict[str, Any]]:
        """``getTransaction`` (``json`` encoding) for each signature, in one batch request.
        A signature the node does not know (yet) is an error: it was just listed."""
        cfg = {"commitment": commitment, "encoding": "json", "maxSupportedTransactionVersion": 0}
        replies = self.client.batch([("getTransaction", [s, cfg]) for s in signatures])
        for sig, reply in zip(signatures, replies):
            if not isinstance(reply, dict) or not isinstance(reply.get("transaction"), dict):
                raise RpcError(f"getTransaction {sig}: no transaction: {str(reply)[:100]}")
        return replies

    def transaction(self, signature: str, *, commitment: str) -> dict[str, Any] | None:
        """``getTransaction`` (``json`` encoding) of one signature at ``commitment``; None
        when the node has no such transaction at that level (not landed, or not yet
        ``finalized``): the attester's re-read before it pays, where "not yet" must wait."""
        return self.transactions_at([signature], commitment=commitment)[0]

    def transactions_at(self, signatures: Sequence[str], *,
                        commitment: str) -> list[dict[str, Any] | None]:
        """:meth:`transaction` of each signature, 100 per batch request (an order's
        memo-tagged transfers may be many: anyone can send one)."""
        cfg = {"commitment": commitment, "encoding": "json", "maxSupportedTransactionVersion": 0}
        out: list[dict[str, Any] | None] = []
        for i in range(0, len(signatures), 100):
            chunk = list(signatures[i:i + 100])
            replies = self.client.batch([("getTransaction", [s, cfg]) for s in chunk])
            for sig, reply in zip(chunk, replies):
                if reply is not None and (not isinstance(reply, dict)
                                          or not isinstance(reply.get("transaction"), dict)
                                          or not _uint(reply.get("slot"))):
                    raise RpcError(f"getTransaction {sig}: malformed reply: {str(reply)[:100]}")
                out.append(reply)
        return out

    def prioritization_fees(self, accounts: Sequence[str]) -> list[tuple[int, int]] | None:
        """``getRecentPrioritizationFees(accounts)``: (slot, micro-lamports per CU) of the
        recent slots, or None when the node does not have the method (JSON-RPC -32601:
        not every RPC provider serves it), so the caller can fall back and say so."""
        try:
            reply = self.client.call("getRecentPrioritizationFees", [list(accounts)])
        except RpcError as exc:
            if exc.code == _METHOD_NOT_FOUND:
                return None
            raise
        if not isinstance(reply, list) or not all(
                isinstance(r, dict) and _uint(r.get("slot")) and _uint(r.get("prioritizationFee"))
                for r in reply):
            raise RpcError(f"getRecentPrioritizationFees: not a list of fees: {str(reply)[:100]}")
        return [(r["slot"], r["prioritizationFee"]) for r in reply]

    def rent_and_account(self, size: int, address: str) -> tuple[int, dict[str, Any] | None]:
        """``getMinimumBalanceForRentExemption(size)`` and ``getAccountInfo(address)`` (its
        value: None when there is no account) in one batch."""
        rent, info = self.client.batch([
            ("getMinimumBalanceForRentExemption", [size]),
            ("getAccountInfo", [address, {"encoding": "base64"}])])
        if not _uint(rent):
            raise RpcError(f"getMinimumBalanceForRentExemption: not lamports: {str(rent)[:100]}")
        if not isinstance(info, dict) or "value" not in info:
            raise RpcError(f"getAccountInfo: malformed reply: {str(info)[:100]}")
        value = info["value"]
        if value is not None and not (isinstance(value, dict) and _uint(value.get("lamports"))):
            raise RpcError(f"getAccountInfo: not an account: {str(value)[:100]}")
        return rent, value
    # ---- what the transaction sender and the funding accounts need ------------------------
    def latest_blockhash(self, commitment: str) -> tuple[str, int]:
        """``getLatestBlockhash``: (blockhash, lastValidBlockHeight): a transaction signed
        with it can land only while the block height is at most lastValidBlockHeight."""
        value = _value(self.client.call("getLatestBlockhash", [{"commitment": commitment}]),
                       "getLatestBlockhash")
        if not isinstance(value, dict) or not isinstance(value.get("blockhash"), str) \
                or not _uint(value.get("lastValidBlockHeight")):
            raise RpcError(f"getLatestBlockhash: malformed reply: {str(value)[:100]}")
        return value["blockhash"], int(value["lastValidBlockHeight"])

    def block_height(self, commitment: str) -> int:
        """``getBlockHeight`` at ``commitment``."""
        height = self.client.call("getBlockHeight", [{"commitment": commitment}])
        if not _uint(height):
            raise RpcError(f"getBlockHeight: not a height: {str(height)[:100]}")
        return int(height)

    def blockhash_valid(self, blockhash: str, commitment: str) -> bool:
        """``isBlockhashValid``: may a transaction signed with it still land?"""
        value = _value(self.client.call("isBlockhashValid", [blockhash, {"commitment": commitment}]),
                       "isBlockhashValid")
        if not isinstance(value, bool):
            raise RpcError(f"isBlockhashValid: not a boolean: {str(value)[:100]}")
        return value

    def signature_statuses(self, signatures: Sequence[str]) -> list[dict[str, Any] | None]:
        """``getSignatureStatuses`` with ``searchTransactionHistory``: a status per
        signature (None: the node knows no such transaction, in its history too)."""
        out: list[dict[str, Any] | None] = []
        for i in range(0, len(signatures), 256):           # the method's limit per call
            chunk = list(signatures[i:i + 256])
            value = _value(self.client.call("getSignatureStatuses",
                                            [chunk, {"searchTransactionHistory": True}]),
                           "getSignatureStatuses")
            if not isinstance(value, list) or len(value) != len(chunk) or not all(
                    v is None or isinstance(v, dict) for v in value):
                raise RpcError(f"getSignatureStatuses: malformed reply: {str(value)[:100]}")
            out += value
        return out

    def send_transaction(self, wire_base64: str, *, skip_preflight: bool,
                         preflight_commitment: str = "confirmed") -> str:
        """``sendTransaction`` of signed bytes (base64); the signature the node returns.
        A preflight refusal is an :class:`RpcError` (nothing was forwarded)."""
        sig = self.client.call("sendTransaction", [wire_base64, {
            "encoding": "base64", "skipPreflight": skip_preflight,
            "preflightCommitment": preflight_commitment, "maxRetries": 0}])
        if not isinstance(sig, str):
            raise RpcError(f"sendTransaction: not a signature: {str(sig)[:100]}")
        return sig

    def rent_exempt_minimum(self, size: int) -> int:
        """``getMinimumBalanceForRentExemption``: lamports an account of ``size`` data
        bytes must hold to exist."""
        value = self.client.call("getMinimumBalanceForRentExemption", [size])
        if not _uint(value):
            raise RpcError(f"getMinimumBalanceForRentExemption: not an amount: {str(value)[:100]}")
        return int(value)

    def balance(self, address: str, commitment: str) -> int:
        """``getBalance``: lamports (0 for an account that does not exist)."""
        value = _value(self.client.call("getBalance", [address, {"commitment": commitment}]),
                       "getBalance")
        if not _uint(value):
            raise RpcError(f"getBalance: not an amount: {str(value)[:100]}")
        return int(value)

    def token_balances(self, accounts: Sequence[str], commitment: str) -> list[int | None]:
        """Raw amounts of SPL token accounts (None: the account does not exist): which
        exist by ``getMultipleAccounts`` (no data), then ``getTokenAccountBalance`` of
        those, in one batch."""
        value = _value(self.client.call("getMultipleAccounts", [list(accounts), {
            "commitment": commitment, "encoding": "base64",
            "dataSlice": {"offset": 0, "length": 0}}]), "getMultipleAccounts")
        if not isinstance(value, list) or len(value) != len(accounts):
            raise RpcError(f"getMultipleAccounts: malformed reply: {str(value)[:100]}")
        there = [a for a, v in zip(accounts, value) if v is not None]
        replies = self.client.batch([("getTokenAccountBalance", [a, {"commitment": commitment}])
                                     for a in there])
        amounts: dict[str, int] = {}
        for a, reply in zip(there, replies):
            amount = _value(reply, "getTokenAccountBalance")
            if not isinstance(amount, dict) or not str(amount.get("amount", "")).isdigit():
                raise RpcError(f"getTokenAccountBalance {a}: malformed reply: {str(amount)[:100]}")
            amounts[a] = int(amount["amount"])
        return [amounts.get(a) for a in accounts]

    def close(self) -> None:
        self.client.close()


def _value(reply: Any, method: str) -> Any:
    """The ``value`` of an ``{"context": ..., "value": ...}`` reply."""
    if not isinstance(reply, dict) or "value" not in reply:
        raise RpcError(f"{method}: malformed reply: {str(reply)[:100]}")
    return reply["value"]
