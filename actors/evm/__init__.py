"""Private EVM helpers of the chain actors.

``actors/`` holds one module per actor kind; what those actors share about EVM chains
lives here, split along its seams so each piece stays small and testable on its own:

- :mod:`.rpc`: JSON-RPC client with failover/backoff over several URLs;
- :mod:`.config`: the ``chains:`` config section (per-chain dataclasses);
- :mod:`.models`: the store tables of the chain watchers and their migration;
- :mod:`.ingest`: raw logs to ``chain_event`` rows (fast decoder, batched inserts).
"""

from .config import ChainConfig, ContractsConfig, WatcherSpec
from .ingest import event_rows, fast_decode, insert_events, to_json
from .models import MIGRATION, MODELS, ChainBlock, ChainCursor, ChainEvent, ChainReorg
from .rpc import Endpoint, RpcClient, RpcError, RpcUnavailable

__all__ = ["Endpoint", "RpcClient", "RpcError", "RpcUnavailable",
           "ChainConfig", "ContractsConfig", "WatcherSpec",
           "ChainCursor", "ChainBlock", "ChainEvent", "ChainReorg", "MODELS", "MIGRATION",
           "to_json", "fast_decode", "event_rows", "insert_events"]
