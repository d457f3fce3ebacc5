"""Resolve the chains and tokens of the config by name, chain id, symbol or address.

SPEC section 2: "chains are named by their config name or chain id; tokens by symbol or
address". Every reader (the quoter, the intent validator, solver capabilities, the CLI's
server side) resolves through this one index, built once from the ``chains`` section, so
the same spelling means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from eth_utils import is_address, to_checksum_address

from chains.evm.config import ChainConfig
from chains.fields import shown

__all__ = ["ChainRef", "Directory", "TokenRef", "UnknownName"]


class UnknownName(LookupError):
    """A chain or token the config does not know; ``field``-free: callers name the field."""




@dataclass(frozen=True)
class TokenRef:
    chain: str
    symbol: str
    address: str      # checksummed
    decimals: int


@dataclass(frozen=True)
class ChainRef:
    name: str
    chain_id: int
    settler: str      # checksummed, "" if the chain has none
    tokens: tuple[TokenRef, ...]


class Directory:
    """Immutable index over ``chains``; cheap to build, safe to share between threads."""

    def __init__(self, chains: Mapping[str, ChainConfig] | None) -> None:
        self._by_name: dict[str, ChainRef] = {}
        self._by_id: dict[int, ChainRef] = {}
        self._tokens: dict[tuple[str, str], TokenRef] = {}   # (chain, SYMBOL or lower addr)
        for name, cfg in sorted((chains or {}).items()):
            refs = tuple(TokenRef(name, sym, to_checksum_address(t.address), t.decimals)
                         for sym, t in sorted(cfg.tokens.items()))
            settler = to_checksum_address(cfg.contracts.settler) if cfg.contracts.settler else ""
            ref = ChainRef(name, cfg.chain_id, settler, refs)
            self._by_name[name] = ref
            self._by_id.setdefault(cfg.chain_id, ref)
            for t in refs:
                self._tokens[(name, t.symbol.upper())] = t
                self._tokens[(name, t.address.lower())] = t

    @property
    def chains(self) -> tuple[ChainRef, ...]:
        return tuple(self._by_name.values())

    def chain(self, key: str | int) -> ChainRef:
        """By config name or chain id (int or decimal string)."""
        if isinstance(key, int):
            ref = self._by_id.get(key)
        elif key.isascii() and key.isdigit():
            # ASCII only and short: int() refuses "²" and numbers over 4300 digits.
            ref = self._by_id.get(int(key)) if len(key) <= 20 else None
        else:
            ref = self._by_name.get(key)
        if ref is None:
            known = ", ".join(f"{c.name} ({c.chain_id})" for c in self._by_name.values())
            raise UnknownName(f"unknown chain {shown(key)}; known: {known or 'none'}")
        return ref

    def chain_by_id(self, chain_id: int) -> ChainRef:
        return self.chain(int(chain_id))

    def token(self, chain: str | int, key: str) -> TokenRef:
        """By symbol (any case) or address on ``chain``."""
        ref = self.chain(chain)
        lookup = key.lower() if is_address(key) else key.upper()
        tok = self._tokens.get((ref.name, lookup))
        if tok is None:
            known = ", ".join(t.symbol for t in ref.tokens)
            raise UnknownName(f"unknown token {shown(key)} on {ref.name}; known: {known or 'none'}")
        return tok

    def covers(self, chain: str | int, token_address: str) -> bool:
        try:
            self.token(chain, token_address)
        except UnknownName:
            return False
        return True
