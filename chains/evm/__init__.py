"""The EVM chain library: what every actor kind that talks to EVM chains shares, split
along its seams so each piece stays small and testable on its own. It knows nothing of
actors (``runtime`` and ``protocol`` below it, ``actors`` above):

- :mod:`.rpc`: JSON-RPC client with failover/backoff over several URLs;
- :mod:`.config`: the ``chains:`` config section (per-chain dataclasses);
- :mod:`.models`: the store tables of the chain watchers and their migration;
- :mod:`.ingest`: raw logs to ``chain_event`` rows (fast decoder, batched inserts);
- :mod:`.signer`: how a signer is configured (key from the environment or keystore) and
  whole-token config amounts to base units;
- :mod:`.txsend` / :mod:`.owner`: sending transactions (record, broadcast, replace).
- :mod:`.wallets`: asking a contract wallet (ERC-1271) whether a signature is its own.
"""

from .config import ChainConfig, ContractsConfig, TokenConfig, WatcherSpec
from .ingest import event_rows, fast_decode, insert_events, to_json
from .models import MIGRATION, MIGRATIONS, MODELS, ChainBlock, ChainCursor, ChainEvent, ChainReorg
from .rpc import Endpoint, RpcClient, RpcError, RpcUnavailable

__all__ = ["Endpoint", "RpcClient", "RpcError", "RpcUnavailable",
           "ChainConfig", "ContractsConfig", "TokenConfig", "WatcherSpec",
           "ChainCursor", "ChainBlock", "ChainEvent", "ChainReorg", "MODELS", "MIGRATION", "MIGRATIONS",
           "to_json", "fast_decode", "event_rows", "insert_events"]
