"""The Solana chain library, beside :mod:`chains.evm` and layered the same way (it knows
nothing of actors):

- :mod:`.config`: ``kind: solana`` chains of the ``chains:`` section;
- :mod:`.rpc`: Solana JSON-RPC with failover between URLs;
- :mod:`.models`: the Solana watchers' tables (cursor, transfers) and their migrations;
- :mod:`.transfers`: SPL transfers read out of a ``getTransaction`` reply;
- :mod:`.fees`: what a fill transaction costs in lamports (base, priority fee, rent).

What exists and what does not yet: docs/solana.md.
"""

from .config import COMMITMENTS, SolanaChainConfig, SolanaTokenConfig, SolanaWatcherSpec, solana_chains_of
from .fees import (LAMPORTS_PER_SIGNATURE, TOKEN_ACCOUNT_SIZE, FillCost, SolanaFeeConfig,
                   fill_cost, percentile, priority_fee, rent_due)
from .models import MIGRATION, MIGRATIONS, SolanaCursor, SolanaTransfer, insert_transfers
from .rpc import RpcError, RpcUnavailable, SolanaRpc
from .transfers import MEMO_PROGRAMS, TOKEN_PROGRAM, Transfer, transfers_of

__all__ = ["COMMITMENTS", "SolanaChainConfig", "SolanaTokenConfig", "SolanaWatcherSpec",
           "solana_chains_of", "MIGRATION", "MIGRATIONS", "SolanaCursor", "SolanaTransfer",
           "insert_transfers",
           "SolanaRpc", "RpcError", "RpcUnavailable", "MEMO_PROGRAMS", "TOKEN_PROGRAM",
           "Transfer", "transfers_of", "LAMPORTS_PER_SIGNATURE", "TOKEN_ACCOUNT_SIZE",
           "FillCost", "SolanaFeeConfig", "fill_cost", "percentile", "priority_fee", "rent_due"]
