"""Funding accounts on a Solana chain are validated at load like the EVM ones: the address
in the chain's form, the asset SOL or a configured mint, amounts within the asset's
decimals, a Solana signer (never an EVM key), a keypair that is really one (never quoted
in the error); each error names the account and its key. The provider starts a
:class:`SolanaFundingAccount` for them."""

from __future__ import annotations

import json

import pytest
from solders.keypair import Keypair

from actors.funding import (FundingAccount, FundingConfig, SolanaFundingAccount,
                            funding_chains, load_solana_signer, resolve)
from protocol.accounts import b58encode
from runtime import ConfigError
from runtime.config import load_text

from .test_solana import MINT, make_app

PAIR = Keypair()
KEY = str(PAIR)
WALLET = str(Keypair().pubkey())
EVM_ADDR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

CHAINS = f"""chains:
  devnet-a:
    chain_id: 31337
    rpc: [http://127.0.0.1:1]
    contracts: {{settler: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0'}}
  sol:
    kind: solana
    rpc: [http://127.0.0.1:2]
    tokens:
      USDC: {{mint: '{MINT}', decimals: 6}}
"""

BASE = f"""chain: sol
address: '{WALLET}'
min_balance: '1'
target_balance: '2'
max_per_top_up: '1'
daily_cap: '5'
source: {{keypair: '${{SOLKEY:-}}'}}"""


def config(account: str, env: dict | None = None):
    text = CHAINS + "funding:\n  accounts:\n    sol-a:\n" + "".join(
        f"      {line}\n" for line in account.strip().splitlines())
    return load_text(text, "supervisor.yaml", make_app(),
                     {"SOLKEY": KEY, "EVMKEY": "0x" + "11" * 32} if env is None else env)


def spec_of(cfg):
    return resolve(cfg.section("funding", FundingConfig), "sol-a", funding_chains(cfg))


def test_sol_and_spl_accounts_resolve_in_their_units(tmp_path):
    sol = spec_of(config(BASE))
    assert (sol.kind, sol.asset, sol.decimals, sol.spl, sol.native) == ("solana", "native", 9,
                                                                        None, True)
    assert (sol.min_balance, sol.daily_cap, sol.rpc) == (10**9, 5 * 10**9, ("http://127.0.0.1:2",))
    for asset in ("USDC", "usdc", MINT):
        spl = spec_of(config(BASE + f"\nasset: '{asset}'"))
        assert (spl.asset, spl.spl.mint, spl.decimals, spl.min_balance) == ("USDC", MINT, 6, 10**6)
    assert KEY not in repr(sol)
    assert load_solana_signer(sol.config.source) == PAIR
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(bytes(PAIR))))
    from_file = spec_of(config(BASE.replace("{keypair: '${SOLKEY:-}'}",
                                            f"{{keypair_file: '{path}'}}")))
    assert load_solana_signer(from_file.config.source) == PAIR


def test_the_provider_starts_a_solana_actor_and_skips_one_without_keypair():
    [child] = next(c for c in make_app().tree(config(BASE)).children
                   if c.id == "funding").config.children
    assert child.actor is SolanaFundingAccount and issubclass(child.actor, FundingAccount)
    funding = next(c for c in make_app().tree(config(BASE, env={})).children if c.id == "funding")
    assert funding.config.children == ()


@pytest.mark.parametrize("change,where,expected", [
    ((f"address: '{WALLET}'", f"address: '{EVM_ADDR}'"), "funding",
     "accounts.sol-a.address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' is a 0x (EVM) address"),
    ((f"address: '{WALLET}'", "address: '0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl'"),
     "funding.accounts.sol-a.address", "expected a value"),
    ((f"address: '{WALLET}'", "address: '1111111111111111111111111111111111111111111'"),
     "funding", "accounts.sol-a.address"),
    (("daily_cap: '5'", "daily_cap: '5'\nasset: DAI"), "funding",
     "accounts.sol-a.asset: unknown token 'DAI' on sol (its tokens: USDC)"),
    (("daily_cap: '5'", f"daily_cap: '5'\nasset: '{WALLET}'"), "funding", "unknown token"),
    (("min_balance: '1'", "min_balance: '0.0000000001'"), "funding",
     "accounts.sol-a.min_balance: '0.0000000001' has more than 9 decimals"),
    (("min_balance: '1'", "min_balance: '0.0000001'\nasset: USDC"), "funding",
     "more than 6 decimals"),
    (("chain: sol", "chain: devnet-a"), "funding",
     "accounts.sol-a.address: "),
    (("source: {keypair: '${SOLKEY:-}'}", "source: {key: '${EVMKEY}'}"), "funding",
     "sol is a Solana chain: the source is source.keypair"),
    (("source: {keypair: '${SOLKEY:-}'}",
      "source: {keypair: '${SOLKEY:-}', keypair_file: /x.json}"), "funding.accounts.sol-a.source",
     "set keypair or keypair_file, not both"),
    (("source: {keypair: '${SOLKEY:-}'}", "source: {keypair_file: /nonexistent.json}"),
     "funding.accounts.sol-a.source", "keypair_file: cannot read"),
])
def test_invalid_solana_account_is_refused_with_the_key_named(change, where, expected):
    with pytest.raises(ConfigError) as exc:
        config(BASE.replace(*change))
    assert exc.value.key == where and expected in str(exc.value)


def test_a_solana_keypair_on_an_evm_account_is_refused():
    text = BASE.replace("chain: sol", "chain: devnet-a").replace(WALLET, EVM_ADDR)
    with pytest.raises(ConfigError) as exc:
        config(text)
    assert "devnet-a is an EVM chain: the source is source.key" in str(exc.value)


def test_a_bad_keypair_is_refused_without_showing_it():
    other = Keypair()
    swapped = b58encode(bytes(PAIR)[:32] + bytes(other.pubkey()))
    for secret, reason in [(swapped, "does not match"), (b58encode(bytes(PAIR)[:32]), "64-byte")]:
        with pytest.raises(ConfigError) as exc:
            config(BASE, env={"SOLKEY": secret})
        assert exc.value.key == "funding.accounts.sol-a.source" and reason in str(exc.value)
        assert secret not in str(exc.value)


def test_the_same_solana_balance_twice_is_refused():
    text = CHAINS + "funding:\n  accounts:\n" + "".join(
        f"    {n}:\n" + "".join(f"      {line}\n" for line in BASE.splitlines())
        for n in ("x", "y"))
    with pytest.raises(ConfigError) as exc:
        load_text(text, "supervisor.yaml", make_app(), {"SOLKEY": KEY})
    assert "the same balance as accounts.x" in str(exc.value)
