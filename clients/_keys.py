"""Signing keys for users: from a hex string, an environment variable or a keystore file.

Why a wrapper around eth-account's LocalAccount: the key must never reach a log, an error
message or a traceback's repr. :class:`Signer` shows only its address, and every failure to
load a key is re-raised without the underlying exception (whose message could quote it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from eth_account import Account

from ._errors import ClientError

__all__ = ["Signer", "as_signer", "load_key_env", "load_keystore"]


class Signer:
    """Signs EIP-712 typed data for one account; ``repr`` shows the address only."""

    __slots__ = ("_account",)

    def __init__(self, private_key: Any) -> None:
        try:
            self._account = Account.from_key(private_key)
        except Exception:  # noqa: BLE001 - the message could quote the key
            raise ClientError("not a valid private key (expected 32 bytes, 0x hex)") from None

    @property
    def address(self) -> str:
        return self._account.address

    def sign_typed_data(self, typed: Mapping[str, Any] | str) -> str:
        """Signature as the node wants it: 0x hex of r||s||v, 65 bytes, v in {27, 28}, low s."""
        full = json.loads(typed) if isinstance(typed, (str, bytes)) else dict(typed)
        try:
            signed = self._account.sign_typed_data(full_message=full)
        except Exception as exc:  # noqa: BLE001 - typed data problems; the key is not in them
            raise ClientError(f"cannot sign the typed data: {type(exc).__name__}: {exc}") from None
        sig = bytes(signed.signature)
        assert len(sig) == 65 and sig[64] in (27, 28), "eth-account returned an unexpected form"
        return "0x" + sig.hex()

    def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        """The raw signed transaction (for ``eth_sendRawTransaction``): the user's own
        transactions, such as an on-chain cancel (clients._onchain)."""
        try:
            return bytes(self._account.sign_transaction(dict(tx)).raw_transaction)
        except Exception as exc:  # noqa: BLE001 - transaction fields; the key is not in them
            raise ClientError(f"cannot sign the transaction: {type(exc).__name__}") from None

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a Signer cannot be pickled (it holds a private key)")


def as_signer(key: Any) -> Signer:
    """A :class:`Signer` from a Signer, an eth-account LocalAccount, or a raw key (hex/bytes)."""
    if isinstance(key, Signer):
        return key
    if hasattr(key, "key") and hasattr(key, "address"):  # LocalAccount
        return Signer(key.key)
    return Signer(key)


def load_key_env(name: str = "ORBITAL_KEY", environ: Mapping[str, str] | None = None) -> Signer:
    """The key in environment variable ``name`` (0x hex)."""
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    if not value:
        raise ClientError(f"environment variable {name} is not set")
    try:
        return Signer(value)
    except ClientError:
        raise ClientError(f"environment variable {name} does not hold a valid private key "
                          "(expected 32 bytes, 0x hex)") from None


def load_keystore(path: str, password: str) -> Signer:
    """Decrypt a standard (web3 secret storage v3) keystore file."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ClientError(f"cannot read keystore {path}: {exc.strerror}") from None
    except ValueError:
        raise ClientError(f"keystore {path} is not JSON") from None
    try:
        key = Account.decrypt(data, password)
    except ValueError:
        raise ClientError(f"cannot decrypt keystore {path}: wrong password or corrupt file") from None
    except Exception:  # noqa: BLE001
        raise ClientError(f"keystore {path} is not a valid keystore file") from None
    return Signer(key)
