"""``funding/<name>`` on a Solana chain: SOL (lamports) or an SPL token of the chain.

The round, the caps, the cooldown, the thresholds, the alerts, the lease and the fenced
writes are :class:`FundingAccount`'s; what differs is the chain's part:

- signer: a Solana keypair (``source.keypair`` from the environment, or
  ``source.keypair_file``), registered with the log redactor;
- balances: ``getBalance`` (SOL), or the associated token accounts of the account and of
  the source via ``getTokenAccountBalance`` (a missing one holds 0);
- the transfer: a System transfer, or an SPL ``TransferChecked`` preceded, when the
  account's associated token account does not exist yet, by its idempotent creation (rent
  paid by the source), and a Memo naming the need (``orbital topup-<id>``: it also makes
  each need's transaction distinct, so two needs of one amount never share a signature);
- sending: :class:`chains.solana.SolanaTxSender`: the signed transaction, its signature,
  blockhash and lastValidBlockHeight are recorded before ``sendTransaction``; after a
  crash the same bytes are sent again while the blockhash is valid, and a new transaction
  is made only once the old one is proven never to have landed. A need is ``confirmed``
  when its transaction is ``finalized``.
"""

from __future__ import annotations

import logging
from typing import Any

from solders.keypair import Keypair

from chains.solana import (TX_LANDED, TX_PENDING, SolanaRpc, SolanaTxSender, keypair_from_base58,
                           keypair_from_file)
from protocol.solana import (associated_token_address, create_associated_token_account_idempotent,
                             memo, sol_transfer, spl_transfer_checked)
from runtime import register_secret

from ._actor import Balances, FundingAccount
from ._config import SourceConfig
from ._models import NEED_FAILED, NEED_SENT, TopUpRow

__all__ = ["SolanaFundingAccount", "load_solana_signer", "FEE_LAMPORTS", "TOKEN_ACCOUNT_SIZE"]

log = logging.getLogger("orbital.funding")

FEE_LAMPORTS = 5_000            # per signature; top-ups carry one (no priority fee)
TOKEN_ACCOUNT_SIZE = 165        # bytes of an SPL token account (its rent, if created)


def load_solana_signer(source: SourceConfig) -> Keypair:
    """The source keypair from ``keypair`` or ``keypair_file``; both its base58 form and
    the configured text are registered as secrets before anything can log them."""
    if source.keypair:
        register_secret(str(source.keypair))
        pair = keypair_from_base58(str(source.keypair), "source.keypair")
    else:
        pair = keypair_from_file(source.keypair_file, "source.keypair_file")
    register_secret(str(pair))
    return pair


class SolanaFundingAccount(FundingAccount):
    kind = "funding"
    _done_status, _pending_status = TX_LANDED, TX_PENDING

    def _connect(self) -> None:
        spec = self.spec
        self.keypair = load_solana_signer(spec.config.source)
        self.source = str(self.keypair.pubkey())
        self.rpc: Any = self.own(SolanaRpc(spec.rpc, timeout=spec.rpc_timeout,
                                           backoff_max=spec.rpc_backoff_max))
        self.singleton = self.hold_lease(f"funding:{self.name}")
        self.sender: Any = SolanaTxSender(spec.chain_name, self.rpc, self.keypair, self.store,
                                          self.path, commitment="finalized",
                                          clock=self.ctx.clock.wall, fence=self.singleton)
        self._ata_missing = False

    def _follow_sender(self, now: float) -> None:
        # statuses, re-sends of the same bytes, rebuilds of what is proven never landed
        self.sender.poll()
        self._reconciled = True

    def _read_balances(self) -> Balances:
        spec, rpc, c = self.spec, self.rpc, self.spec.commitment
        address = spec.config.address
        native = rpc.balance(self.source, c)
        if spec.spl is None:
            balance, source_balance = rpc.balance(address, c), native
        else:
            mint = spec.spl.mint
            mine, theirs = rpc.token_balances([associated_token_address(address, mint),
                                               associated_token_address(self.source, mint)], c)
            self._ata_missing = mine is None
            balance, source_balance = mine or 0, theirs or 0
        b = Balances(balance=balance, source_balance=source_balance, source_native=native)
        self.balance, self.source_balance, self.source_native = b
        return b

    def _source_short(self, amount: int, b: Balances) -> str:
        """Why the source cannot pay ``amount`` + fee (+ the rent of a new token account),
        keeping itself rent-exempt, or ""."""
        reserve = self.rpc.rent_exempt_minimum(0)     # the source account must stay alive
        fee = FEE_LAMPORTS
        if self.spec.spl is None:
            if b.source_native < amount + fee + reserve:
                return (f"source {self.source} holds {b.source_native} lamports, a top-up of "
                        f"{amount} needs {amount + fee + reserve} with the fee and its own "
                        f"rent reserve")
            return ""
        if b.source_balance < amount:
            return (f"source {self.source} holds {b.source_balance} {self.spec.asset}, a "
                    f"top-up needs {amount}")
        rent = self.rpc.rent_exempt_minimum(TOKEN_ACCOUNT_SIZE) if self._ata_missing else 0
        if b.source_native < fee + rent + reserve:
            return (f"source {self.source} holds {b.source_native} lamports, the fee"
                    f"{' and the new token account' if rent else ''} need {fee + rent + reserve}")
        return ""

    def _send(self, need: TopUpRow) -> None:
        spec, source, address = self.spec, self.source, self.spec.config.address
        if spec.spl is None:
            if self.balance == 0 and need.amount < (rent := self.rpc.rent_exempt_minimum(0)):
                # a wallet that does not exist yet must receive at least the rent-exempt
                # minimum: the transfer would fail on chain (fee paid for nothing)
                self._update(need, status=NEED_FAILED, reason=(
                    f"not sent: {address} does not exist and {need.amount} lamports is below "
                    f"the rent-exempt minimum {rent}; raise target_balance/max_per_top_up"))
                log.warning("top-up not sent: below the rent-exempt minimum", extra={
                    "path": self.path, "amount": need.amount, "rent": rent})
                return
            ixs = [sol_transfer(source, address, need.amount)]
        else:
            ixs = [create_associated_token_account_idempotent(source, address, spec.spl.mint)] \
                if self._ata_missing else []
            ixs.append(spl_transfer_checked(source, spec.spl.mint, address, need.amount,
                                            spec.spl.decimals))
        ixs.append(memo(f"orbital {need.reference}"))
        row = self.sender.submit(ixs, need.reference, purpose="top-up")
        self._step("tx_sent")
        self._update(need, status=NEED_SENT, tx_hash=row.signature, sent_at=row.sent_at)
