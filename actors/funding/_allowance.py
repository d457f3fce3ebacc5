"""``funding/<name>`` with ``spender``: keeps an ERC-20 allowance at a target.

The operator's and the solvers' inventories are spent by contracts: the settler pulls a
filler's tokens for a fill, Permit2 for the orders that go through it. An allowance that
runs out fails fills as surely as an empty balance, so a funding account can keep
``allowance(owner, spender)`` between ``min_balance`` and ``target_balance`` the way it
keeps a balance: the same round, the same needs recorded before anything is signed, the
same rolling daily cap (of allowance increases), cooldown, alerts and lease.

What differs: the "balance" read is the allowance; the source is the owner itself (only the
owner can approve: checked at load for a key or a remote signer, at start for a keystore);
the transaction is ``approve(spender, allowance_before + amount)``, an absolute value fixed
when the need is recorded, so a need sent after a crash sets exactly what was decided (a
re-sent approve cannot raise the allowance twice); the source's check is gas only, and its
``low_balance`` alert watches the owner's token balance (the inventory behind the
allowance).

Limits: tokens that refuse to change a non-zero allowance (USDT's approve race guard) need
an approve to 0 first, which is not sent; Permit2's own per-spender allowances
(``Permit2.approve``) are not kept, only the ERC-20 allowance to Permit2.
"""

from __future__ import annotations

import logging
import math

from eth_abi import encode as abi_encode
from eth_utils import keccak

from chains.evm.txsend import suggest_fees

from ._actor import Balances, FundingAccount
from ._models import TopUpRow

__all__ = ["AllowanceAccount"]

log = logging.getLogger("orbital.funding")

_APPROVE = keccak(text="approve(address,uint256)")[:4]
_ALLOWANCE = keccak(text="allowance(address,address)")[:4]
_BALANCE_OF = keccak(text="balanceOf(address)")[:4]
_GAS_APPROVE = 100_000          # for the source's gas check only


class AllowanceAccount(FundingAccount):
    """A funding account whose kept amount is an allowance (module doc)."""

    _misconfigured = ""

    def _connect(self) -> None:
        super()._connect()
        owner = self.spec.config.address
        if self.source.lower() != owner.lower():   # a keystore: known only now
            self._misconfigured = (f"the source {self.source} is not the owner {owner}: "
                                   "only the owner can approve its allowance")
            log.error("allowance account not run", extra={"path": self.path,
                                                          "error": self._misconfigured})

    def _round(self):
        if self._misconfigured:
            self.state, self.last_error = "error", self._misconfigured
            return self.status()
        return super()._round()

    def _read_balances(self) -> Balances:
        spec = self.spec
        assert spec.token is not None, "an allowance account is of a token (checked at load)"
        owner, token = spec.config.address, spec.token.address

        def call(data: bytes) -> tuple[str, list]:
            return ("eth_call", [{"to": token, "data": "0x" + data.hex()}, "latest"])
        raw = self.rpc.batch([
            ("eth_getBalance", [self.source, "latest"]),
            call(_ALLOWANCE + abi_encode(["address", "address"], [owner, spec.spender])),
            call(_BALANCE_OF + abi_encode(["address"], [owner]))])
        native, allowance, inventory = (int(v, 16) if v not in (None, "0x") else 0 for v in raw)
        b = Balances(balance=allowance, source_balance=inventory, source_native=native)
        self.balance, self.source_balance, self.source_native = b
        return b

    def _transaction(self, need: TopUpRow) -> tuple[str, bytes, int]:
        """approve(spender, allowance when recorded + amount): absolute, fixed by the need."""
        spec = self.spec
        assert spec.token is not None
        value = int(need.balance_before) + int(need.amount)
        return spec.token.address, _APPROVE + abi_encode(["address", "uint256"],
                                                         [spec.spender, value]), 0

    def _source_short(self, amount: int, b: Balances) -> str:
        """An approve moves no tokens: the owner needs gas only."""
        fees = suggest_fees(self.rpc, self.spec.tx)
        gas = math.ceil(fees.max_fee * _GAS_APPROVE * self.spec.tx.gas_margin)
        if b.source_native < gas:
            return f"owner {self.source} holds {b.source_native} wei, the approve needs {gas} gas"
        return ""
