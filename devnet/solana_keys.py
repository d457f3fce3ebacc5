"""solana-local's deterministic keys and the ``solana`` entry of devnet.json.

Every key is derived from a fixed seed (sha256 of a label), so the USDC mint and the accounts have
the same addresses on every start. They are devnet keys: public by construction, worthless
anywhere but a local LiteSVM.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address

__all__ = [
    "CHAIN_ID",
    "CHAIN_NAME",
    "DEFAULT_SOLANA_PORT",
    "GENESIS_HASH",
    "SOLANA_ACCOUNTS",
    "USDC_DECIMALS",
    "SolanaAccount",
    "derived_keypair",
    "faucet_keypair",
    "mint_keypair",
    "solana_entry",
]

CHAIN_NAME = "solana-local"
CHAIN_ID = 900
"""Orbital's id of solana-local as an intent destination (Solana has no EVM chain id; this one is
Orbital's own, unique among the configured chains): the ``destinationChainId`` of orders to it,
registered on every devnet settler with ``setDestination32``."""
DEFAULT_SOLANA_PORT = 8899
USDC_DECIMALS = 6
USDC_PER_ACCOUNT = 1_000_000 * 10**USDC_DECIMALS
SOL_PER_ACCOUNT = 1_000 * 10**9
_SEED = "orbital-devnet/solana-local/"


def derived_keypair(label: str) -> Keypair:
    """The devnet keypair for ``label`` (ed25519 seed = sha256 of a fixed prefix + label)."""
    return Keypair.from_seed(hashlib.sha256((_SEED + label).encode()).digest())


def mint_keypair() -> Keypair:
    return derived_keypair("mint/USDC")


def faucet_keypair() -> Keypair:
    """Funds requestAirdrop and the start-up airdrops with ordinary, indexed transfers."""
    return derived_keypair("faucet")


GENESIS_HASH = str(Pubkey(hashlib.sha256((_SEED + "genesis").encode()).digest()))  # base58 of 32 bytes


@dataclass(frozen=True)
class SolanaAccount:
    index: int
    roles: tuple[str, ...]

    @property
    def keypair(self) -> Keypair:
        return derived_keypair(f"account/{self.index}")

    @property
    def pubkey(self) -> Pubkey:
        return self.keypair.pubkey()

    @property
    def usdc_account(self) -> Pubkey:
        """The account's associated token account for the USDC mint."""
        return get_associated_token_address(self.pubkey, mint_keypair().pubkey(), TOKEN_PROGRAM_ID)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "pubkey": str(self.pubkey), "secret_key": str(self.keypair),
                "usdc_account": str(self.usdc_account), "roles": list(self.roles)}


# Same role split as the EVM accounts; account 0 also is the USDC mint authority and fee payer.
SOLANA_ACCOUNTS: tuple[SolanaAccount, ...] = (
    SolanaAccount(0, ("treasury", "mint_authority")),
    SolanaAccount(1, ("operator",)),
    SolanaAccount(2, ("solver",)),
    SolanaAccount(3, ("user",)),
    SolanaAccount(4, ("user",)),
    SolanaAccount(5, ("user",)),
)


def solana_entry(rpc_url: str, pid: int, log_file: str) -> dict[str, Any]:
    """The ``solana`` entry of devnet.json for a server at ``rpc_url``."""
    return {
        "name": CHAIN_NAME, "kind": "solana", "chain_id": CHAIN_ID, "rpc_url": rpc_url, "pid": pid,
        "log_file": log_file,
        "genesis_hash": GENESIS_HASH,
        "tokens": {"USDC": {"symbol": "USDC", "mint": str(mint_keypair().pubkey()), "decimals": USDC_DECIMALS,
                            "program_id": str(TOKEN_PROGRAM_ID), "mint_authority": str(SOLANA_ACCOUNTS[0].pubkey)}},
        "accounts": [a.to_json() for a in SOLANA_ACCOUNTS],
        "secret_key_format": "base58 of the 64-byte keypair (solders Keypair.from_base58_string)",
    }
