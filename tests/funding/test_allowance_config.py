"""``spender`` (and ``reset_to_zero``, an allowance account's only) is validated at load:
an allowance is of a token, approved by its owner's own key, to the chain's settler,
Permit2 or an address; one actor per (owner, token, spender)."""

from __future__ import annotations

import pytest

from actors.funding import PERMIT2, FundingConfig, resolve
from runtime import ConfigError
from runtime.config import load_text

from .conftest import make_app

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
OWNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"        # KEY's address
SETTLER = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
CHAINS = f"""chains:
  devnet-a:
    chain_id: 31337
    rpc: [http://127.0.0.1:1]
    contracts: {{settler: '{SETTLER}'}}
    tokens:
      USDC: {{address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6}}
"""
BASE = f"""chain: devnet-a
address: '{OWNER}'
asset: USDC
spender: permit2
min_balance: '100'
target_balance: '1000'
max_per_top_up: '1000'
daily_cap: '5000'
source: {{key: '${{KEY:-}}'}}"""


def config(accounts: dict[str, str]):
    text = CHAINS + "funding:\n  accounts:\n" + "".join(
        f"    {name}:\n" + "".join(f"      {line}\n" for line in body.strip().splitlines())
        for name, body in accounts.items())
    return load_text(text, "supervisor.yaml", make_app(), {"KEY": KEY})


def _spec(body: str):
    cfg = config({"allow": body})
    return resolve(cfg.section("funding", FundingConfig), "allow", cfg.section("chains", dict))


def test_spenders_resolve():
    spec = _spec(BASE)
    assert spec.spender == PERMIT2 and spec.asset == "USDC allowance" and spec.min_balance == 10**8
    assert _spec(BASE.replace("spender: permit2", "spender: settler")).spender == SETTLER
    other = "0x" + "ab" * 20
    assert _spec(BASE.replace("spender: permit2", f"spender: '{other}'")).spender.lower() == other
    assert _spec(BASE.replace("spender: permit2\n", "")).spender == ""    # a balance account
    assert _spec(BASE + "\nreset_to_zero: true").config.reset_to_zero
    assert not _spec(BASE).config.reset_to_zero


@pytest.mark.parametrize("change,expected", [
    (("asset: USDC", "asset: native"), "accounts.allow.spender: an allowance is of an ERC-20"),
    ((f"address: '{OWNER}'", "address: '0x" + "12" * 20 + "'"),
     "the source must be the key of address"),
    (("spender: permit2", "spender: '0x" + "00" * 20 + "'"), "the zero address"),
    (("spender: permit2", "reset_to_zero: true"),
     "accounts.allow.reset_to_zero: only an allowance account (spender set) approves"),
])
def test_invalid_allowance_accounts_are_refused(change, expected):
    with pytest.raises(ConfigError) as exc:
        config({"allow": BASE.replace(*change)})
    assert expected in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        config({"allow": BASE.replace("spender: permit2", "spender: bridge")})
    assert exc.value.key == "funding.accounts.allow.spender"


def test_one_actor_per_owner_token_and_spender():
    balance = BASE.replace("spender: permit2\n", "")
    config({"allow": BASE, "keep": balance,                           # different things kept
            "settler": BASE.replace("spender: permit2", "spender: settler")})
    with pytest.raises(ConfigError) as exc:
        config({"a": BASE, "b": BASE})
    assert "the same balance as accounts.a" in str(exc.value) and PERMIT2 in str(exc.value)
