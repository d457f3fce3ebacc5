"""The pure decision: what was read on the origin chain -> executable or not, and why.

No chain here, so the rule is a fast table test (tests/admission/test_rules.py). The
numbers are exactly what ``openFor`` needs: ``transferFrom(user, settler, inputAmount)``
succeeds iff balance >= amount and allowance >= amount, and the nonce must not be in
``usedNonces`` (burnt by ``invalidateNonce``, or used by an order already opened). For an
order of the Permit2 form the pull is Permit2's: the allowance is the user's to Permit2, and
the nonce must also be clear in Permit2's ``nonceBitmap`` (used by any Permit2 transfer of the
user's, or burnt with ``invalidateUnorderedNonces``). For an order of a contract wallet
(ERC-1271), ``openFor`` also asks the wallet whether the signature is still its own: a
wallet that stopped accepting it (an owner rotated, a module revoked) fails ``SIGNATURE``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Reading", "Verdict", "Violation", "decide", "BALANCE", "ALLOWANCE", "NONCE",
           "SIGNATURE"]

BALANCE, ALLOWANCE, NONCE, SIGNATURE = "BALANCE", "ALLOWANCE", "NONCE", "SIGNATURE"


@dataclass(frozen=True, slots=True)
class Reading:
    """What the origin chain says at ``block`` about one order."""

    block: int
    balance: int
    allowance: int            # to the settler, or to Permit2 for a Permit2-form order
    nonce_used: bool          # in the settler's usedNonces
    permit2_nonce_used: bool = False   # in Permit2's nonceBitmap (Permit2-form orders only)
    # A contract wallet's order: "" when the wallet still accepts the signature (or the
    # order is signed by a key: no wallet asked), else what it said instead
    # (chains.evm.wallets.WalletAnswer.describe: its answer, or its revert).
    wallet_refusal: str = ""


@dataclass(frozen=True, slots=True)
class Violation:
    """One unmet precondition (google.rpc.PreconditionFailure.Violation)."""

    type: str          # BALANCE | ALLOWANCE | NONCE | SIGNATURE
    subject: str       # the token, the settler or the wallet: the address the fix is about
    description: str   # the numbers and the fix

    def triple(self) -> tuple[str, str, str]:
        return (self.type, self.subject, self.description)


@dataclass(frozen=True, slots=True)
class Verdict:
    chain: str
    block: int
    violations: tuple[Violation, ...] = ()
    reading: Reading | None = None   # what it was decided from (the book decides again)

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
           nonce: int, reserved: int = 0, others: int = 0, permit2: str = "") -> Verdict:
    """Every unmet precondition of ``openFor`` for this order, in the order a user fixes
    them (the wallet's consent, funds, then approval; a burnt nonce cannot be fixed: sign a
    new order).

    ``reserved``: the input of the user's ``others`` orders of the same token that are
    being auctioned or awarded and not yet opened; their openFor will pull it first, so
    this order needs ``amount + reserved``. Without it, one balance could back any number
    of concurrent awards, all but one of which would revert.

    ``permit2``: Permit2's address for an order of the Permit2 form (the allowance read is
    the user's to it, and its nonce bitmap is checked), empty for the Orbital form."""
    out: list[Violation] = []
    need = amount + reserved
    what = str(need) if not reserved else \
        f"{need} ({amount} for this order + {reserved} held by {others} other order(s) of " \
        f"this user being auctioned or awarded)"
    if reading.wallet_refusal:
        out.append(Violation(SIGNATURE, user,
                             f"the contract wallet {user} no longer accepts the order's "
                             f"signature ({reading.wallet_refusal}): restore the wallet's "
                             f"signer (owner or module) or cancel and sign a new order it "
                             f"accepts"))
    if reading.balance < need:
        out.append(Violation(BALANCE, token,
                             f"balance {reading.balance} < {what}: fund {user} with "
                             f"{need - reading.balance} more of the input token {token}"))
    if reading.allowance < need:
        spender = f"Permit2 {permit2}" if permit2 else f"the settler {settler}"
        out.append(Violation(ALLOWANCE, token,
                             f"allowance {reading.allowance} < {what}: approve {spender} "
                             f"for the input token {token} (at least {need})"))
    if reading.nonce_used:
        out.append(Violation(NONCE, settler,
                             f"nonce {nonce} of {user} is already used on the settler {settler} "
                             f"(invalidated, or an order with it was opened): sign a new order "
                             f"with a fresh nonce"))
    elif permit2 and reading.permit2_nonce_used:
        out.append(Violation(NONCE, permit2,
                             f"Permit2 nonce {nonce} of {user} is already used on Permit2 "
                             f"{permit2} (word {nonce >> 8}, bit {nonce & 0xFF} of its nonceBitmap: "
                             f"spent by a Permit2 transfer, or invalidated): sign a new order "
                             f"with a fresh nonce"))
    return Verdict(chain, reading.block, tuple(out), reading)
