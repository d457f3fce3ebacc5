"""Solana signing keys of the node (funding sources): a 64-byte keypair, given either as
base58 text (what ``solana-keygen``'s ``Keypair.to_base58_string`` and Phantom export;
meant to come from ``${ENV_VAR}``) or as the path of a JSON array file of the 64 bytes
(``solana-keygen new -o key.json``). Both are checked the same way: 64 bytes whose second
half is the public key of the first (a pasted key with a typo is refused, not used to sign
for an unknown account). Errors never quote the key.
"""

from __future__ import annotations

import json

from solders.keypair import Keypair

from protocol.accounts import b58decode

__all__ = ["keypair_from_base58", "keypair_from_file"]


def _keypair(raw: bytes, what: str) -> Keypair:
    if len(raw) != 64:
        raise ValueError(f"{what}: expected a 64-byte keypair, got {len(raw)} bytes")
    pair = Keypair.from_seed(raw[:32])
    if bytes(pair.pubkey()) != raw[32:]:
        raise ValueError(f"{what}: the public half does not match the secret half")
    return pair


def keypair_from_base58(text: str, what: str = "key") -> Keypair:
    """A keypair from its base58 text; ValueError naming ``what``, never the text."""
    try:
        raw = b58decode(text.strip())
    except ValueError:
        raise ValueError(f"{what}: not base58") from None
    return _keypair(raw, what)


def keypair_from_file(path: str, what: str = "keypair_file") -> Keypair:
    """A keypair from a JSON array of its 64 bytes; OSError/ValueError naming ``what``."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path!r}: {exc.strerror}") from None
    except ValueError:
        raise ValueError(f"{what}: {path!r} is not JSON") from None
    if not isinstance(doc, list) or not all(
            isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in doc):
        raise ValueError(f"{what}: {path!r} is not a JSON array of bytes")
    return _keypair(bytes(doc), what)
