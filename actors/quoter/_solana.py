"""Request fields of a Solana fill estimate, checked the one way every caller gets:
the chain (a ``kind: solana`` chain of the config), the token (symbol, any case, or
mint of that chain) and accounts (base58 public keys; a 0x address is refused as the
wrong form). Each refusal is ``InvalidArgument`` naming the field."""

from __future__ import annotations

from collections.abc import Mapping

from chains.solana import SolanaChainConfig
from protocol.accounts import SOLANA, parse_account
from runtime import InvalidArgument

__all__ = ["parse_solana_account", "resolve_solana_token"]


def parse_solana_account(text: str, field: str) -> str:
    if not text:
        raise InvalidArgument(f"{field} is required (a base58 public key)", field=field)
    try:
        return parse_account(text[:100], SOLANA)
    except ValueError as exc:
        raise InvalidArgument(str(exc), field=field) from None


def resolve_solana_token(chains: Mapping[str, SolanaChainConfig], chain: str,
                         token: str) -> tuple[str, str, str, int]:
    """(chain name, symbol, mint, decimals) of ``token`` on the Solana chain ``chain``."""
    if not chain:
        raise InvalidArgument("chain is required (a Solana chain's name)", field="chain")
    cfg = chains.get(chain)
    if cfg is None:
        raise InvalidArgument(f"unknown Solana chain {chain[:64]!r}; configured: "
                              f"{', '.join(sorted(chains)) or 'none'}", field="chain")
    if not token:
        raise InvalidArgument("token is required (a symbol or mint)", field="token")
    for symbol, t in sorted(cfg.tokens.items()):
        if symbol.upper() == token.upper() or t.mint == token:
            return chain, symbol, t.mint, t.decimals
    raise InvalidArgument(f"unknown token {token[:64]!r} on {chain}; known: "
                          f"{', '.join(sorted(cfg.tokens)) or 'none'}", field="token")
