"""``funding/<name>``: funding accounts, one actor per account (issue 5, section 1).

Each keeps one account's balance of one asset (native or an ERC-20 of ``chains``) above
``min_balance``: below it, a top-up towards ``target_balance`` (at most
``max_per_top_up``, within a rolling 24 h ``daily_cap``, not within ``cooldown`` of the
previous one) is recorded, then signed by the source signer and sent through
:class:`chains.evm.txsend.TxSender` (nonces, EIP-1559 fees, stuck-transaction
replacement, reconciliation). A crash at any point never pays one need twice; caps and
the source's balance raise alerts. ``AdminService/ListFundingAccounts`` lists them.
See docs/funding.md.

Layout: ``_config`` the ``funding:`` section; ``_models`` its tables (migration
``0500_funding``); ``_messages`` what the actor answers; ``_actor`` the actor; ``_admin``
the admin method. ``install`` is the kind's entry point (``node.build_app``).
"""

from __future__ import annotations

from chains.evm.config import chains_of

import logging

from chains.evm.txsend import MIGRATION as TX_MIGRATION
from runtime import ChildSpec
from runtime.config import App

from ._actor import FundingAccount, load_signer
from ._admin import list_funding_accounts
from ._config import NATIVE, AccountConfig, AccountSpec, FundingConfig, SourceConfig, resolve
from ._messages import (ALERT_CAP, ALERT_SOURCE, FundingStatus, Poll, Status, TopUpView)
from ._models import MIGRATION, AccountRow, TopUpRow

__all__ = ["install", "FundingAccount", "FundingConfig", "AccountConfig", "SourceConfig",
           "AccountSpec", "FundingStatus", "TopUpView", "Poll", "Status", "TopUpRow",
           "AccountRow", "MIGRATION", "ALERT_CAP", "ALERT_SOURCE", "NATIVE", "resolve",
           "load_signer", "list_funding_accounts"]

log = logging.getLogger("orbital.funding")


def install(app: App) -> None:
    app.section("funding", FundingConfig)
    app.migration(TX_MIGRATION)      # chains/evm is not a kind: its senders' table
    app.migration(MIGRATION)
    app.admin("ListFundingAccounts", list_funding_accounts)

    @app.provide("funding")
    def accounts(config) -> list[ChildSpec]:
        section = config.section("funding", FundingConfig)
        chains = chains_of(config)
        out = []
        for name in sorted(section.accounts):
            spec = resolve(section, name, chains)   # checked at load (check_config)
            if not spec.config.source.configured:
                log.info("funding account not started: no source key (set the env var of "
                         "funding.accounts.%s.source.key, or source.keystore)", name,
                         extra={"account": name})
                continue
            out.append(ChildSpec(name, FundingAccount, spec))
        return out
