"""The Solana chain library, beside :mod:`chains.evm` and layered the same way (it knows
nothing of actors):

- :mod:`.config`: ``kind: solana`` chains of the ``chains:`` section;
- :mod:`.rpc`: Solana JSON-RPC with failover between URLs;
- :mod:`.models`: the Solana watchers' tables (cursor, transfers) and their migrations;
- :mod:`.transfers`: SPL transfers read out of a ``getTransaction`` reply;
- :mod:`.fees`: what a fill transaction costs in lamports (base, priority fee, rent).
- :mod:`.txsend`: record-before-send of Solana transactions (``solana_tx``);
- :mod:`.keys`: the node's Solana keypairs (base58 text or a JSON array file).

What exists and what does not yet: docs/solana.md.
"""

from .config import COMMITMENTS, SolanaChainConfig, SolanaTokenConfig, SolanaWatcherSpec, solana_chains_of
from .fees import (LAMPORTS_PER_SIGNATURE, TOKEN_ACCOUNT_SIZE, FillCost, SolanaFeeConfig,
                   fill_cost, percentile, priority_fee, rent_due)
from .models import MIGRATION, MIGRATIONS, SolanaCursor, SolanaTransfer, insert_transfers
from .rpc import RpcError, RpcUnavailable, SolanaRpc
from .keys import keypair_from_base58, keypair_from_file
from .transfers import MEMO_PROGRAMS, TOKEN_PROGRAM, Transfer, transfers_of
from .txsend import (TX_EXPIRED, TX_FAILED, TX_FINAL, TX_LANDED, TX_MIGRATION, TX_PENDING,
                     SolanaTx, SolanaTxSender, reached)

__all__ = ["COMMITMENTS", "SolanaChainConfig", "SolanaTokenConfig", "SolanaWatcherSpec",
           "solana_chains_of", "MIGRATION", "MIGRATIONS", "SolanaCursor", "SolanaTransfer",
           "insert_transfers",
           "SolanaRpc", "RpcError", "RpcUnavailable", "MEMO_PROGRAMS", "TOKEN_PROGRAM",
           "Transfer", "transfers_of", "LAMPORTS_PER_SIGNATURE", "TOKEN_ACCOUNT_SIZE",
           "FillCost", "SolanaFeeConfig", "fill_cost", "percentile", "priority_fee", "rent_due",
           "keypair_from_base58", "keypair_from_file",
           "SolanaTxSender", "SolanaTx", "TX_MIGRATION", "TX_PENDING", "TX_LANDED", "TX_FAILED",
           "TX_EXPIRED", "TX_FINAL", "reached"]
