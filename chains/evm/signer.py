"""How a node-side signer is configured (funding sources, rebalance inventories): a key
from the environment, or an encrypted JSON keystore whose password comes from the
environment; never inline. Validated once at load; decrypted only by the actor's setup.

Also the one conversion of config amounts, written in whole tokens (``'0.5'`` ETH,
``'1000'`` USDC), to base units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Optional

from runtime.config import Secret, opt

__all__ = ["SignerConfig", "to_units", "whole_tokens"]


def whole_tokens(text: str) -> Decimal:
    """A config amount in whole tokens; ValueError unless a finite, non-negative decimal."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"expected a decimal number of whole tokens, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"expected a non-negative decimal number, got {text!r}")
    return value


def to_units(text: str, decimals: int) -> int:
    """Whole-token decimal string -> base units. ValueError as :func:`whole_tokens`, or
    for more digits than ``decimals`` (an amount the token cannot represent must not be
    silently rounded)."""
    value = whole_tokens(text) * Decimal(10) ** decimals
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} has more than {decimals} decimals")
    return int(value)


@dataclass(frozen=True)
class SignerConfig:
    key: Optional[Secret] = opt(None, pattern=r"((0x)?[0-9a-fA-F]{64})?",
                                doc="private key, from ${ENV_VAR} only (e.g. "
                                    "${ORBITAL_OPERATOR_KEY:-}); empty: not configured")
    keystore: str = opt("", doc="path of an encrypted JSON keystore (instead of key)")
    password: Optional[Secret] = opt(None, doc="keystore password, from ${ENV_VAR}")

    def check(self) -> None:
        if self.key and self.keystore:
            raise ValueError("set key or keystore, not both")
        if not self.keystore:
            return
        problems = []            # every problem at once: a keystore rarely has just one
        if self.password is None:
            problems.append("a keystore needs password: ${ENV_VAR}")
        try:
            with open(self.keystore, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as exc:
            problems.append(f"cannot read keystore {self.keystore!r}: {exc}")
        else:
            if not isinstance(doc, dict) or not ("crypto" in doc or "Crypto" in doc):
                problems.append(f"{self.keystore!r} is not an encrypted JSON keystore "
                                "(no 'crypto')")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def configured(self) -> bool:
        return bool(self.key) or bool(self.keystore)

    def private_key(self) -> str:
        """The key, 0x hex (decrypting the keystore): for the actor's setup, never at load.
        OSError/ValueError for an unreadable keystore or a wrong password."""
        if self.key:
            return str(self.key)
        from eth_account import Account
        with open(self.keystore, encoding="utf-8") as fh:
            doc = json.load(fh)
        return "0x" + bytes(Account.decrypt(doc, str(self.password or ""))).hex()
