"""The Solana chain library, beside :mod:`chains.evm` and layered the same way (it knows
nothing of actors):

- :mod:`.config`: ``kind: solana`` chains of the ``chains:`` section;
- :mod:`.rpc`: Solana JSON-RPC with failover between URLs;
- :mod:`.models`: the Solana watchers' cursor table and its migration.

What exists and what does not yet: docs/solana.md.
"""

from .config import COMMITMENTS, SolanaChainConfig, SolanaTokenConfig, SolanaWatcherSpec, solana_chains_of
from .models import MIGRATION, MIGRATIONS, SolanaCursor
from .rpc import RpcError, RpcUnavailable, SolanaRpc

__all__ = ["COMMITMENTS", "SolanaChainConfig", "SolanaTokenConfig", "SolanaWatcherSpec",
           "solana_chains_of", "MIGRATION", "MIGRATIONS", "SolanaCursor", "SolanaRpc",
           "RpcError", "RpcUnavailable"]
