"""``AdminService/ListFundingAccounts``: every configured account, live or from the store.

Each running actor is asked for its :class:`Status` with ``funding.ask_timeout``; an actor
that is down, restarting or slow is answered for from the store (``funding_account`` as it
last saved it, ``funding_topup`` for the top-ups and the cap), so one stuck account never
blanks the list. Accounts without a source key (not started) are listed as ``error``.
"""

from __future__ import annotations

import logging

from orbital.v1 import admin_pb2
from runtime import ActorUnavailable

from ._config import FundingConfig, funding_chains, resolve
from ._messages import FundingStatus, Status, TopUpView
from ._models import AccountRow, recent, used_today
from ._actor import view
from runtime.grpc import timestamp as _ts

__all__ = ["list_funding_accounts"]

log = logging.getLogger("orbital.funding")



def _num(v: int | None) -> str:
    return "" if v is None else str(v)


def _top_up(t: TopUpView) -> admin_pb2.TopUp:
    return admin_pb2.TopUp(id=str(t.id), amount=str(t.amount), tx_hash=t.tx_hash,
                           status=t.status, created_at=_ts(t.created_at),
                           confirmed_at=_ts(t.confirmed_at), reason=t.reason)


def _from_store(node, section: FundingConfig, name: str) -> FundingStatus:
    spec = resolve(section, name, funding_chains(node.config))
    now = node.clock.wall()
    with node.store.connection():
        row = AccountRow.get_or_none(AccountRow.name == name)
        used = used_today(name, now)
        tops = tuple(view(r) for r in recent(name, section.history))
    if not spec.config.source.configured:
        keys = ("source.keypair or source.keypair_file" if spec.kind == "solana"
                else "source.key or source.keystore")
        state, error = "error", f"not started: no source key ({keys})"
    elif row is None:
        state, error = "error", "not running and never reported"
    else:
        state, error = row.state, row.last_error or "actor not answering; last saved state"
    # the saved balances hold only for the same asset on the same chain
    same = row if row is not None and row.asset == spec.asset \
        and row.chain == spec.chain_name else None
    return FundingStatus(
        name=name, chain=spec.chain_name, address=spec.config.address, asset=spec.asset,
        balance=same.balance if same else None, min_balance=spec.min_balance,
        target_balance=spec.target_balance, remaining_cap=max(0, spec.daily_cap - used),
        state=state, last_error=error, top_ups=tops, source=row.source if row else "",
        source_balance=same.source_balance if same else None)


def list_funding_accounts(node, request) -> admin_pb2.ListFundingAccountsResponse:
    section = node.config.section("funding", FundingConfig)
    out = []
    for name in sorted(section.accounts):
        try:
            st = node.registry.ask(f"funding/{name}", Status(), timeout=section.ask_timeout)
        except ActorUnavailable:
            st = _from_store(node, section, name)
        out.append(admin_pb2.FundingAccount(
            name=st.name, chain=st.chain, address=st.address, asset=st.asset,
            balance=_num(st.balance), min_balance=str(st.min_balance),
            target_balance=str(st.target_balance), remaining_daily_cap=str(st.remaining_cap),
            state=st.state, last_error=st.last_error,
            recent_top_ups=[_top_up(t) for t in st.top_ups], source=st.source,
            source_balance=_num(st.source_balance)))
    return admin_pb2.ListFundingAccountsResponse(accounts=out)
