"""How a node-side signer is configured (funding sources, rebalance inventories): a key
from the environment, an encrypted JSON keystore whose password comes from the
environment, or a remote signer over JSON-RPC ``eth_signTransaction`` (Clef, Web3Signer:
the node never holds that key); never inline. Validated once at load; decrypted or
connected only by the actor's setup. Every one gives the same :class:`Signer`: an
``address`` and ``sign_transaction(tx) -> (raw_transaction, hash)``, which is all the
transaction sender uses.

Also the one conversion of config amounts, written in whole tokens (``'0.5'`` ETH,
``'1000'`` USDC), to base units.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, Optional, Protocol

from eth_account import Account
from eth_account.messages import SignableMessage
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from runtime import register_secret, register_url
from runtime.config import Secret, opt

from .rpc import RpcClient, RpcError

__all__ = ["SignerConfig", "Signer", "SignedTx", "SignedMessage", "RemoteSigner", "to_units",
           "whole_tokens"]


class SignedTx(NamedTuple):
    raw_transaction: bytes
    hash: bytes


class SignedMessage(NamedTuple):
    """An EIP-191 signature: ``signature`` as ``eth_account``'s ``sign_message`` gives it."""
    signature: bytes


class Signer(Protocol):
    """What signs a sender's transactions: a local account or a remote signer."""

    @property
    def address(self) -> str: ...

    def sign_transaction(self, tx: dict[str, Any]) -> Any: ...


_QUANTITIES = ("chainId", "nonce", "value", "gas", "maxFeePerGas", "maxPriorityFeePerGas")


class RemoteSigner:
    """``eth_signTransaction`` on a signer's JSON-RPC endpoint (Clef, Web3Signer, or a node
    with the account unlocked): the key never enters this process. What comes back is
    checked before it is recorded or sent: it must decode as an EIP-1559 transaction with
    exactly the fields asked for, signed by ``address``; a signer that answers anything
    else is refused (:class:`RpcError`), never broadcast."""

    def __init__(self, url: str, address: str, *, timeout: float = 10.0) -> None:
        register_url(url)
        self.url = url
        self.address = to_checksum_address(address)
        self.rpc = RpcClient([url], timeout=timeout)

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        request: dict[str, Any] = {"from": self.address, "type": "0x2",
                                   "to": tx["to"], "data": tx.get("data", "0x")}
        request |= {k: hex(int(tx[k])) for k in _QUANTITIES if k in tx}
        reply = self.rpc.call("eth_signTransaction", [request], failover=False)
        raw_hex = reply.get("raw") if isinstance(reply, dict) else reply   # Clef: {raw, tx}
        try:
            raw = bytes.fromhex(str(raw_hex).removeprefix("0x"))
            got = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            signer = Account.recover_transaction(raw)
        except Exception as exc:  # noqa: BLE001 - anything the signer sent that is not a tx
            raise RpcError(f"eth_signTransaction: not a signed transaction: {exc}") from None
        if signer != self.address:
            raise RpcError(f"eth_signTransaction: signed by {signer}, not {self.address}")
        wanted = {k: int(tx[k]) for k in _QUANTITIES if k in tx}
        differs = [k for k, v in wanted.items() if int(got.get(k, -1)) != v]
        if to_checksum_address(got.get("to")) != to_checksum_address(tx["to"]):
            differs.append("to")
        if bytes(got.get("data", b"")) != bytes.fromhex(str(tx.get("data", "0x"))[2:]):
            differs.append("data")
        if differs:
            raise RpcError(f"eth_signTransaction: the signer changed {', '.join(differs)}")
        return SignedTx(raw, keccak(raw))

    def sign_message(self, message: SignableMessage) -> SignedMessage:
        """An EIP-191 ``personal_sign`` message (a solver session's challenge) through
        ``eth_sign`` (Web3Signer, geth in front of Clef, a node with the account unlocked).
        The signature is checked to recover to ``address`` before it is used."""
        if message.version != b"E":
            raise RpcError("eth_sign: only EIP-191 personal messages (version E) are signed")
        reply = self.rpc.call("eth_sign", [self.address, "0x" + bytes(message.body).hex()],
                              failover=False)
        try:
            signature = bytes.fromhex(str(reply).removeprefix("0x"))
            signer = Account.recover_message(message, signature=signature)
        except Exception as exc:  # noqa: BLE001 - anything the signer sent that is no signature
            raise RpcError(f"eth_sign: not a signature: {exc}") from None
        if signer != self.address:
            raise RpcError(f"eth_sign: signed by {signer}, not {self.address}")
        return SignedMessage(signature)

    def close(self) -> None:
        self.rpc.close()


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
    remote: str = opt("", pattern=r"(https?://\S+)?",
                      doc="a remote signer's JSON-RPC URL (eth_signTransaction), instead "
                          "of key or keystore; the node never holds that key")
    address: str = opt("", pattern=r"(0x[0-9a-fA-F]{40})?",
                       doc="with remote: the account the remote signer signs for")
    remote_chains: dict[str, str] = opt(
        factory=dict, pattern=r"[a-z0-9][a-z0-9_\-]{0,62}",
        doc="with remote: chain name -> the signer's URL for that chain, for a signer "
            "bound to one chain id (Web3Signer's --chain-id, Clef's --chainid); chains "
            "not named use remote. Session challenges are signed by remote")

    def check(self) -> None:
        if sum(map(bool, (self.key, self.keystore, self.remote))) > 1:
            raise ValueError("set one of key, keystore or remote, not both")
        if self.remote_chains and not self.remote:
            raise ValueError("remote_chains goes with remote and address")
        bad = [n for n, url in self.remote_chains.items()
               if not re.fullmatch(r"https?://\S+", url)]
        if bad:
            raise ValueError(f"remote_chains: {', '.join(sorted(bad))}: expected an "
                             "http(s) URL")
        if self.remote and not self.address:
            raise ValueError("a remote signer needs address: the account it signs for")
        if self.address and not self.remote:
            raise ValueError("address goes with remote (a key or keystore names its own)")
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
        return bool(self.key) or bool(self.keystore) or bool(self.remote)

    def signer(self, *, timeout: float = 10.0, chain: str = "") -> Any:
        """The :class:`Signer`: a local account (key or keystore, registered as secrets)
        or a :class:`RemoteSigner` (``chain``'s own URL when ``remote_chains`` names it).
        OSError/ValueError for an unreadable keystore or a wrong password."""
        if self.remote:
            url = self.remote_chains.get(chain, self.remote) if chain else self.remote
            return RemoteSigner(url, self.address, timeout=timeout)
        key = self.private_key()
        register_secret(key)
        register_secret(key.removeprefix("0x"))
        return Account.from_key(key)

    def private_key(self) -> str:
        """The key, 0x hex (decrypting the keystore): for the actor's setup, never at load.
        OSError/ValueError for an unreadable keystore or a wrong password."""
        if self.key:
            return str(self.key)
        from eth_account import Account
        with open(self.keystore, encoding="utf-8") as fh:
            doc = json.load(fh)
        return "0x" + bytes(Account.decrypt(doc, str(self.password or ""))).hex()
