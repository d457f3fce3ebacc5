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

Tokens that refuse to change a non-zero allowance (USDT's approve race guard): with
``reset_to_zero``, a need decided at a non-zero allowance is met by ``approve(spender, 0)``
then ``approve(spender, value)``, recorded together as one step
(:meth:`TxSender.submit_all`: both or neither recorded, sent in nonce order, a crash
between record and send sends the recorded pair). The second approve's gas is not estimated
(the token would refuse it until the first is mined): :data:`_GAS_APPROVE`. Without
``reset_to_zero`` such a token's approve fails (its estimate reverts): the need fails and
``funding_topup_failed`` is raised.

Limits: between the two approves of a reset the allowance is 0 for a block (a fill in that
block fails); Permit2's own per-spender allowances (``Permit2.approve``) are not kept, only
the ERC-20 allowance to Permit2.
"""

from __future__ import annotations

import logging
import math

from eth_abi import encode as abi_encode
from eth_utils import keccak

from chains.evm.txsend import TxCall, suggest_fees

from ._actor import Balances, FundingAccount
from ._models import TopUpRow

__all__ = ["AllowanceAccount"]

log = logging.getLogger("orbital.funding")

_APPROVE = keccak(text="approve(address,uint256)")[:4]
_ALLOWANCE = keccak(text="allowance(address,address)")[:4]
_BALANCE_OF = keccak(text="balanceOf(address)")[:4]
# the source's gas check, and the gas limit of a reset's second approve (an ERC-20 approve
# from a zero allowance: ~46,000 on USDT, ~25,000-50,000 on common tokens)
_GAS_APPROVE = 100_000


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

    def _resets(self, allowance: int, value: int) -> bool:
        """Does setting ``value`` over ``allowance`` need an approve(0) first?"""
        return self.spec.config.reset_to_zero and allowance != 0 and allowance != value

    def _transactions(self, need: TopUpRow) -> list[TxCall]:
        """The need's approve, preceded by approve(0) when the token must be reset first
        (``reset_to_zero`` and a non-zero allowance when the need was recorded): one step."""
        to, data, value = self._transaction(need)
        before = int(need.balance_before)
        if not self._resets(before, before + int(need.amount)):
            return [TxCall(to, data, value)]
        spender = self.spec.spender
        zero = _APPROVE + abi_encode(["address", "uint256"], [spender, 0])
        return [TxCall(to, zero, 0), TxCall(to, data, value, gas=_GAS_APPROVE)]

    def _source_short(self, amount: int, b: Balances) -> str:
        """An approve moves no tokens: the owner needs gas only (two approves' for a reset)."""
        fees = suggest_fees(self.rpc, self.spec.tx)
        approves = 2 if self._resets(b.balance, b.balance + amount) else 1
        gas = math.ceil(fees.max_fee * _GAS_APPROVE * approves * self.spec.tx.gas_margin)
        if b.source_native < gas:
            return f"owner {self.source} holds {b.source_native} wei, the approve needs {gas} gas"
        return ""
