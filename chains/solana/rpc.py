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

    def close(self) -> None:
        self.client.close()
