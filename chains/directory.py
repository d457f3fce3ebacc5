"""Resolve the chains and tokens of the config by name, chain id, symbol or address.

SPEC section 2: "chains are named by their config name or chain id; tokens by symbol or
address". Every reader (the quoter, the intent validator, solver capabilities, the CLI's
server side) resolves through this one index, built once from the ``chains`` section, so
the same spelling means the same thing everywhere.

Both kinds of chain are in it: EVM chains, and Solana chains that have a ``chain_id`` (their
id as the destination of intents, docs/solana.md). A Solana chain's "settler" is the SPL
Memo program (the 32-byte destination the origin settlers register for it: a fill there is
an SPL transfer tagged by a memo), its tokens are SPL mints (base58, matched exactly: base58
is case-sensitive). :func:`intent_chains_of` gives the chains of a config that intents may
name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from typing import Any, Union

from eth_utils import is_address, to_checksum_address

from chains.evm.config import ChainConfig, chains_of
from chains.fields import shown
from chains.solana.config import SolanaChainConfig, solana_chains_of
from protocol.accounts import EVM, SOLANA, ChainKind
from protocol.solana import MEMO_PROGRAM

__all__ = ["ChainRef", "Directory", "TokenRef", "UnknownName", "intent_chains_of"]

AnyChain = Union[ChainConfig, SolanaChainConfig]


def intent_chains_of(config: Any) -> dict[str, AnyChain]:
    """The chains intents may name: every EVM chain, and the Solana chains with a
    ``chain_id`` (destinations only)."""
    out: dict[str, AnyChain] = dict(chains_of(config))
    out.update({n: c for n, c in solana_chains_of(config).items() if c.chain_id is not None})
    return out


class UnknownName(LookupError):
    """A chain or token the config does not know; ``field``-free: callers name the field."""




@dataclass(frozen=True)
class TokenRef:
    chain: str
    symbol: str
    address: str      # checksummed (EVM), or the SPL mint in base58 (Solana)
    decimals: int


@dataclass(frozen=True)
class ChainRef:
    name: str
    chain_id: int
    settler: str      # checksummed, "" if the chain has none; Solana: the Memo program
    tokens: tuple[TokenRef, ...]
    kind: ChainKind = EVM


class Directory:
    """Immutable index over ``chains``; cheap to build, safe to share between threads."""

    def __init__(self, chains: Mapping[str, AnyChain] | None) -> None:
        self._by_name: dict[str, ChainRef] = {}
        self._by_id: dict[int, ChainRef] = {}
        self._tokens: dict[tuple[str, str], TokenRef] = {}   # (chain, SYMBOL / address key)
        for name, cfg in sorted((chains or {}).items()):
            if isinstance(cfg, SolanaChainConfig):
                if cfg.chain_id is None:
                    continue   # not a destination of intents
                ref = ChainRef(name, cfg.chain_id, MEMO_PROGRAM,
                               tuple(TokenRef(name, sym, t.mint, t.decimals)
                                     for sym, t in sorted(cfg.tokens.items())), SOLANA)
            else:
                settler = to_checksum_address(cfg.contracts.settler) if cfg.contracts.settler else ""
                ref = ChainRef(name, cfg.chain_id, settler,
                               tuple(TokenRef(name, sym, to_checksum_address(t.address),
                                              t.decimals)
                                     for sym, t in sorted(cfg.tokens.items())))
            self._by_name[name] = ref
            self._by_id.setdefault(ref.chain_id, ref)
            for t in ref.tokens:
                self._tokens[(name, t.symbol.upper())] = t
                self._tokens[(name, _address_key(t.address))] = t

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
        tok = self._tokens.get((ref.name, key.upper())) if len(key) < 32 else None
        if tok is None:
            tok = self._tokens.get((ref.name, _address_key(key)))
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


def _address_key(address: str) -> str:
    """How a token address is looked up: an EVM address in any case, a mint exactly."""
    return address.lower() if is_address(address) else address
