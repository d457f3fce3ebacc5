"""Clients of an Orbital node: the Python client library and the ``orbital`` user CLI.

Library::

    from clients import OrbitalClient, load_key_env
    with OrbitalClient("127.0.0.1:50051") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 100_000_000, user)
        intent = client.sign_and_submit(quote, load_key_env("ORBITAL_KEY"))
        for update in client.watch([intent.id]):
            print(update.intent.status.name)

Calls retry UNAVAILABLE only (exponential backoff with jitter) within a per-call deadline;
failures raise :class:`OrbitalRpcError` (code, message, field violations). The CLI is
:mod:`clients.cli` (``orbital quote|submit|watch|list|cancel``); the operator commands
(``orbital run|check-config|tree|reload``) are the node's (:mod:`node.cli`).
"""

from clients._amounts import format_amount, parse_amount
from clients._client import DEFAULT_TARGET, OrbitalClient
from clients._errors import (ClientError, OrbitalRpcError, field_violations, from_rpc_error,
                             from_status, precondition_violations)
from clients._format import table_lines
from clients._keys import Signer, as_signer, load_key_env, load_keystore
from clients._onchain import OnchainCancel, cancel_onchain, invalidation_call
from clients._retry import NO_RETRY, RETRYABLE, RetryPolicy, call_with_retry
from protocol.transport import TlsOptions, open_channel
from clients._types import (
    TERMINAL,
    Evidence,
    Intent,
    IntentPage,
    IntentStatus,
    IntentUpdate,
    Quote,
    Transition,
)

__all__ = [
    "OnchainCancel",
    "cancel_onchain",
    "invalidation_call",
    "DEFAULT_TARGET",
    "TlsOptions",
    "open_channel",
    "NO_RETRY",
    "RETRYABLE",
    "TERMINAL",
    "ClientError",
    "from_status",
    "Evidence",
    "Intent",
    "IntentPage",
    "IntentStatus",
    "IntentUpdate",
    "OrbitalClient",
    "OrbitalRpcError",
    "Quote",
    "RetryPolicy",
    "Signer",
    "Transition",
    "as_signer",
    "call_with_retry",
    "field_violations",
    "precondition_violations",
    "format_amount",
    "from_rpc_error",
    "load_key_env",
    "load_keystore",
    "parse_amount",
    "table_lines",
]
