"""The reference solver (``orbital-solver``): bids from its inventory, opens and fills on chain.

It connects to a node's ``SolverService`` (challenge signed with EIP-191, one bidirectional
session with heartbeats, reconnect with backoff), bids the intent's minimum output plus a
configured improvement, capped by the output tokens it holds on the destination chain, and on
an award calls ``openFor`` on the origin settler, checks the escrow on chain against the award
(``protocol.evidence.judge_escrow``; a mismatch is reported to the node and not filled) and
calls ``fill`` on the destination settler, reporting both transactions. To a Solana
destination it fills with one Solana transaction (an SPL ``TransferChecked`` to the
recipient's associated token account and a Memo v2 of the order id), recorded in its fill
journal before it is sent so that it is never sent twice.
docs/reference-solver.md has the configuration and the flow.

Library use (tests run it in-process)::

    solver = Solver(load_config("solver.yaml")).start()
    ...
    solver.stop()
"""

from protocol.evidence import Escrow

from ._chain import EvmChain, TxGateway, TxResult
from ._config import ChainSpec, SolverAccount, SolverConfig, SolverConfigError, SolverKey, load_config
from ._execute import Abort, AwardJob, Executor, Outcome
from ._inventory import BidDecision, Inventory
from ._journal import FillJournal, FillRecord
from ._solana import SolanaChain, SolanaFill, SolanaRpcError
from ._solana_config import SolanaChainSpec, SolanaKey, SolanaToken
from ._solver import Solver

__all__ = ["Abort", "AwardJob", "BidDecision", "ChainSpec", "Escrow", "EvmChain", "Executor", "FillJournal",
           "FillRecord", "Inventory", "Outcome", "SolanaChain", "SolanaChainSpec", "SolanaFill", "SolanaKey",
           "SolanaRpcError", "SolanaToken", "Solver", "SolverAccount", "SolverConfig", "SolverConfigError",
           "SolverKey", "TxGateway", "TxResult", "load_config"]
