"""``intents/attester``: settles FILLED intents on their origin chain (issue 4, section 4).

Reads the book's ``intent`` rows and the watchers' ``chain_event`` rows (never writes
them); when a fill is its destination chain's ``settlement_depth`` blocks deep, it proves
the intent by the evidence rule (``protocol.evidence``: the escrow's exact originData) and
its escrow is still Opened, it is settled in a batched
``OrbitalSettler.settle(orderIds, fillers, fillKeys)`` signed by the attester key (the
settler checks each fill key against the escrow's). A fill below the winning bid is held
for an operator (``shortfall_policy``, ``AdminService/DecideShortfall``). Transactions go
through the node's one EVM sender, :class:`chains.evm.txsend.TxSender` (recorded before
they are sent, reconciled after a restart, stuck ones replaced with bumped EIP-1559 fees,
nonces shared with any other actor signing with the same key); the batch behind each one
is committed first (never settles twice); an order that keeps reverting, or whose
evidence does not match, is reported to ``intents/book`` as :class:`SettlementFailed`.
An intent to a Solana chain (an OrbitalOrder32) is proven by the first memo-tagged SPL
transfer that fills it, re-read at ``finalized`` (Solana's settlement depth), and repaid to
the filler its escrow names (``escrows(id)``), through the same batches and rules.
It also sends ``refund(orderId)`` for expired OPENED intents when the keeper asks
(:class:`RefundDue`). See docs/attester.md.

Layout: ``_config`` the ``attester:`` section; ``_models`` its tables (migration
``0400_attester``); ``_calls`` settler calldata and decoding; ``_ledger`` per-order and
per-batch outcomes, FAILED reports and operator decisions; ``_evidence`` the proving fill;
``_refunds`` one refund; ``_messages`` what it tells and answers; ``_admin`` the
DecideShortfall method; ``_actor`` the actor.
"""

from __future__ import annotations

from chains.evm.config import chains_of
from chains.solana import solana_chains_of

import logging

from runtime import ChildSpec
from runtime.config import App

from actors import ATTESTER_PATH, BOOK_PATH

from ._actor import Attester
from ._config import AttesterConfig, AttesterSpec
from ._admin import decide_shortfall
from ._evidence import Proof, fill_events, prove_fill, prove_solana_fill, solana_transfers
from ._messages import AttesterStatus, DecideShortfall, Poll, RefundDue, SettlementFailed
from ._models import (MIGRATION, MIGRATIONS, AttesterBatch, AttesterOrder, refund_reference,
                      settle_reference)

__all__ = ["install", "Attester", "AttesterConfig", "AttesterSpec", "AttesterStatus", "Poll",
           "SettlementFailed", "RefundDue", "DecideShortfall", "AttesterOrder", "AttesterBatch",
           "MIGRATION", "MIGRATIONS", "BOOK_PATH", "Proof", "fill_events", "prove_fill",
           "prove_solana_fill", "solana_transfers",
           "settle_reference", "refund_reference", "decide_shortfall"]

log = logging.getLogger("orbital.attester")


def install(app: App) -> None:
    from actors.book import MIGRATIONS as BOOK_MIGRATIONS
    from chains.evm.models import MIGRATION as CHAIN_MIGRATION
    from chains.evm.txsend import MIGRATION as TX_MIGRATION
    from chains.solana import MIGRATIONS as SOLANA_MIGRATIONS
    app.section("attester", AttesterConfig)
    # It reads the book's and the watchers' tables and sends through evm_tx: their
    # migrations (deduplicated by id when those kinds are installed too) make sure the
    # tables exist.
    app.migration(CHAIN_MIGRATION)
    for migration in SOLANA_MIGRATIONS:     # solana_transfer: fills of orders to Solana
        app.migration(migration)
    for migration in BOOK_MIGRATIONS:
        app.migration(migration)
    app.migration(TX_MIGRATION)
    for migration in MIGRATIONS:
        app.migration(migration)
    app.admin("DecideShortfall", decide_shortfall)

    from actors.keeper import ask_actor, no_args, register_action
    register_action("refund_expired", ask_actor(ATTESTER_PATH, RefundDue(), "refunds sent:"), no_args)

    @app.provide("intents")
    def attester(config) -> list[ChildSpec]:
        section = config.section("attester", AttesterConfig)
        if not section.enabled:
            log.info("attester not started: no signer (set ORBITAL_ATTESTER_KEY, or "
                     "attester.keystore or attester.remote)")
            return []
        chains = {n: c for n, c in chains_of(config).items()
                  if c.kind == "evm" and c.contracts.settler}
        origins = tuple(section.chains) or tuple(sorted(chains))
        unknown = [n for n in origins if n not in chains]
        if unknown:
            log.error("attester chains without a configured settler are ignored",
                      extra={"chains": unknown})
        origins = tuple(n for n in origins if n in chains)
        solana = {n: c for n, c in solana_chains_of(config).items() if c.chain_id is not None}
        return [ChildSpec("attester", Attester, AttesterSpec(section, chains, origins, solana))]
