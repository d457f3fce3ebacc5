"""``funding/<name>``: funding accounts, one actor per account (issue 5, section 1; Solana
accounts: issue 14).

Each keeps one account's balance of one asset (native or an ERC-20 of ``chains``) above
``min_balance``: below it, a top-up towards ``target_balance`` (at most
``max_per_top_up``, within a rolling 24 h ``daily_cap``, not within ``cooldown`` of the
previous one) is recorded, then signed by the source signer and sent through
:class:`chains.evm.txsend.TxSender` (nonces, EIP-1559 fees, stuck-transaction
replacement, reconciliation), or on a Solana chain (SOL or an SPL token) signed by a
Solana keypair and sent through :class:`chains.solana.SolanaTxSender` (``_solana``). With ``spender``
(``_allowance``), an account keeps the owner's ERC-20 allowance to the settler or Permit2
instead, approved by the owner's own key under the same rules. A crash at any point never
pays one need twice; caps and the source's balance raise alerts.
``AdminService/ListFundingAccounts`` lists them.
See docs/funding.md.

Layout: ``_config`` the ``funding:`` section; ``_models`` its tables (migrations
``0500_funding``, ``0510_funding_solana``); ``_messages`` what the actor answers;
``_actor`` the actor; ``_solana`` its Solana variant; ``_allowance`` the allowance variant; ``_admin`` the admin method.
``install`` is the kind's entry point (``node.build_app``).
"""

from __future__ import annotations

import logging

from chains.evm.txsend import MIGRATION as TX_MIGRATION
from chains.solana import TX_MIGRATION as SOLANA_TX_MIGRATION
from protocol.accounts import SOLANA
from runtime import ChildSpec
from runtime.config import App

from ._actor import FundingAccount, load_signer
from ._allowance import AllowanceAccount
from ._admin import list_funding_accounts
from ._config import (NATIVE, PERMIT2, AccountConfig, AccountSpec, FundingConfig,
                      SolanaToken, SourceConfig, funding_chains, resolve)
from ._messages import (ALERT_CAP, ALERT_FAILED, ALERT_SOURCE, FundingStatus, Poll, Status,
                        TopUpView)
from ._models import MIGRATION, MIGRATIONS, AccountRow, TopUpRow
from ._solana import SolanaFundingAccount, load_solana_signer

__all__ = ["install", "FundingAccount", "FundingConfig", "AccountConfig", "SourceConfig",
           "AccountSpec", "FundingStatus", "TopUpView", "Poll", "Status", "TopUpRow",
           "AccountRow", "MIGRATION", "ALERT_CAP", "ALERT_SOURCE", "ALERT_FAILED", "NATIVE", "resolve",
           "load_signer", "list_funding_accounts", "MIGRATIONS", "SolanaFundingAccount",
           "SolanaToken", "load_solana_signer", "funding_chains", "AllowanceAccount", "PERMIT2"]

log = logging.getLogger("orbital.funding")


def install(app: App) -> None:
    app.section("funding", FundingConfig)
    app.migration(TX_MIGRATION)      # chains/evm is not a kind: its senders' table
    app.migration(SOLANA_TX_MIGRATION)   # likewise chains/solana's (solana_tx)
    for migration in MIGRATIONS:
        app.migration(migration)
    app.admin("ListFundingAccounts", list_funding_accounts)

    @app.provide("funding")
    def accounts(config) -> list[ChildSpec]:
        section = config.section("funding", FundingConfig)
        chains = funding_chains(config)
        out = []
        for name in sorted(section.accounts):
            spec = resolve(section, name, chains)   # checked at load (check_config)
            if not spec.config.source.configured:
                log.info("funding account not started: no source key (set the env var of "
                         "funding.accounts.%s.source.key, or source.keystore; on Solana "
                         "source.keypair or source.keypair_file)", name,
                         extra={"account": name})
                continue
            actor = (SolanaFundingAccount if spec.kind == SOLANA
                     else AllowanceAccount if spec.spender else FundingAccount)
            out.append(ChildSpec(name, actor, spec))
        return out
