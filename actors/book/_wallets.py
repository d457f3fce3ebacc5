"""Signatures of smart-contract wallets (ERC-1271), checked on the order's origin chain.

An order whose signature does not recover to its user may still be the user's: when the
user is a contract wallet, the wallet itself says whether the signature is its own
(``isValidSignature(digest, signature) == 0x1626ba7e``). The intent service asks here only
after the cheap checks (the recovery already failed to name the user), one ``eth_getCode``
and one ``eth_call`` on the origin chain (``chains.evm.wallets``), from a worker thread. The settler asks the same
question in the same order (contracts/src/lib/SignatureChecker.sol), so the node refuses
exactly what ``openFor`` would revert on, and with the same reason: the wallet's answer, or
its revert. Replies never carry RPC errors' text (an endpoint URL may hold a provider key).

Why the RPC clients live here and not in ``intents/admission``: admission can be turned
off; authentication cannot.
"""

from __future__ import annotations

import threading
import time

from chains.evm import ChainConfig, RpcClient, RpcError, RpcUnavailable
from chains.evm.config import chains_of
from chains.evm.wallets import ask_wallet, has_code
from runtime import Unauthenticated, Unavailable

__all__ = ["WalletSignatures"]


class WalletSignatures:
    """``verify`` for the intent service; RPC clients per origin chain, rebuilt when the
    config is reloaded. Thread-safe (called from the gRPC worker pool)."""

    def __init__(self, node) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._config: object = None
        self._rpcs: dict[str, RpcClient] = {}

    def _rpc(self, chain: str) -> RpcClient:
        config = self.node.config
        with self._lock:
            if self._config is not config:
                for old in self._rpcs.values():
                    old.close()
                self._config, self._rpcs = config, {}
            rpc = self._rpcs.get(chain)
            if rpc is None:
                cfg: ChainConfig | None = chains_of(config).get(chain)
                if cfg is None:
                    raise Unavailable(f"the origin chain {chain} is not configured on this node")
                rpc = RpcClient(cfg.rpc, timeout=cfg.rpc_timeout, backoff_max=cfg.rpc_backoff_max,
                                clock=time.monotonic)
                self._rpcs[chain] = rpc
            return rpc

    def verify(self, chain: str, user: str, digest: bytes, signature: bytes,
               refusal: Unauthenticated) -> None:
        """Return if ``user`` is a contract wallet that accepts ``signature`` over ``digest``;
        raise ``refusal`` (what the ECDSA check found) if it has no code (or, extended with
        why, if the chain cannot say whether it has), Unauthenticated with the wallet's answer
        or revert if it refuses, Unavailable if a wallet's answer cannot be read."""
        rpc = self._rpc(chain)
        try:
            wallet = has_code(rpc, user)
        except (RpcUnavailable, RpcError):
            # Not known to be a wallet, and not the signature of the user's key: unproven, so
            # refused as such (an EOA's wrong signature stays UNAUTHENTICATED in an outage).
            raise Unauthenticated(f"{refusal.message}; the origin chain {chain} could not be "
                                  f"asked whether {user} is a contract wallet: retry if it is",
                                  field="signature") from None
        if not wallet:
            raise refusal
        try:
            answer = ask_wallet(rpc, user, digest, signature)
        except RpcUnavailable:
            raise Unavailable(f"the origin chain {chain} cannot be read to ask the wallet {user} "
                              "about its signature; retry") from None
        except RpcError:
            raise Unavailable(f"the origin chain {chain} did not answer isValidSignature "
                              f"of the wallet {user}; retry") from None
        if answer.outcome == "reverted":
            raise Unauthenticated(f"the order's user {user} is a contract wallet and its "
                                  f"{answer.describe()}", field="signature")
        if not answer.valid:
            raise Unauthenticated(f"the order's user {user} is a contract wallet and it refused "
                                  f"this signature: {answer.describe()} (sign with a key the "
                                  "wallet accepts)", field="signature")
