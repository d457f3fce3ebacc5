"""The pure decision: what was read on the origin chain -> executable or not, and why.

No chain here, so the rule is a fast table test (tests/admission/test_rules.py). The
numbers are exactly what ``openFor`` needs: ``transferFrom(user, settler, inputAmount)``
succeeds iff balance >= amount and allowance >= amount, and the nonce must not be in
``usedNonces`` (burnt by ``invalidateNonce``, or used by an order already opened).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Reading", "Verdict", "Violation", "decide", "BALANCE", "ALLOWANCE", "NONCE"]

BALANCE, ALLOWANCE, NONCE = "BALANCE", "ALLOWANCE", "NONCE"


@dataclass(frozen=True, slots=True)
class Reading:
    """What the origin chain says at ``block`` about one order."""

    block: int
    balance: int
    allowance: int
    nonce_used: bool


@dataclass(frozen=True, slots=True)
class Violation:
    """One unmet precondition (google.rpc.PreconditionFailure.Violation)."""

    type: str          # BALANCE | ALLOWANCE | NONCE
    subject: str       # the token, or the settler, the address the fix is about
    description: str   # the numbers and the fix

    def triple(self) -> tuple[str, str, str]:
        return (self.type, self.subject, self.description)


@dataclass(frozen=True, slots=True)
class Verdict:
    chain: str
    block: int
    violations: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def reason(self) -> str:
        """One line for a refusal or a history entry."""
        if self.ok:
            return f"executable on {self.chain} at block {self.block}"
        return (f"not executable on {self.chain} at block {self.block}: "
                + "; ".join(v.description for v in self.violations))


def decide(chain: str, reading: Reading, *, user: str, token: str, settler: str, amount: int,
           nonce: int) -> Verdict:
    """Every unmet precondition of ``openFor`` for this order, in the order a user fixes
    them (funds, then approval; a burnt nonce cannot be fixed: sign a new order)."""
    out: list[Violation] = []
    if reading.balance < amount:
        out.append(Violation(BALANCE, token,
                             f"balance {reading.balance} < {amount}: fund {user} with "
                             f"{amount - reading.balance} more of the input token {token}"))
    if reading.allowance < amount:
        out.append(Violation(ALLOWANCE, token,
                             f"allowance {reading.allowance} < {amount}: approve the settler "
                             f"{settler} for the input token {token} (at least {amount})"))
    if reading.nonce_used:
        out.append(Violation(NONCE, settler,
                             f"nonce {nonce} of {user} is already used on the settler {settler} "
                             f"(invalidated, or an order with it was opened): sign a new order "
                             f"with a fresh nonce"))
    return Verdict(chain, reading.block, tuple(out))
