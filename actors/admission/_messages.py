"""The contract of ``intents/admission`` with the intent service and the book."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._rules import Verdict

__all__ = ["CheckOrder", "OrderChecked"]


@dataclass(frozen=True)
class CheckOrder:
    """Can this order be opened on its origin chain now? Answers a :class:`Verdict`, or
    raises ``Unavailable`` when the chain cannot be read.

    With ``reply_to``, nothing is answered: the actor tells ``reply_to`` an
    :class:`OrderChecked` carrying ``tag`` (the book, which must never wait for a chain).
    """

    chain: str          # the origin chain's configured name
    user: str
    token: str          # input token
    settler: str        # origin settler (the spender of the allowance)
    amount: int
    nonce: int
    reply_to: str = ""
    tag: Any = None
    # The Permit2 form (docs/erc7683.md 3b): the input is pulled through Permit2, so the
    # allowance that counts is the user's to Permit2, and the nonce must also be unused in
    # Permit2's nonce bitmap (the settler's usedNonces is checked either way).
    permit2: bool = False
    # A contract wallet's order (ERC-1271): the digest the wallet approved at submission and
    # the signature, 0x hex; the wallet is asked again (``SIGNATURE``). Empty for an order
    # signed by a key, which is never put to a wallet (no extra read).
    wallet_digest: str = ""
    signature: str = ""


@dataclass(frozen=True)
class OrderChecked:
    tag: Any
    verdict: Verdict | None      # None: the chain could not be read (``error`` says why)
    error: str = ""
