"""The ``funding:`` section is validated once at load: precise errors, keys never inline in
errors, keystore signers, accounts without a key not started (and said so)."""

from __future__ import annotations

from actors.funding import FundingConfig

import logging

import pytest
from eth_account import Account

from actors.funding import FundingAccount, load_signer, resolve
from runtime import ConfigError
from runtime.config import load_text

from .conftest import make_app

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

CHAINS = """chains:
  devnet-a:
    chain_id: 31337
    rpc: [http://127.0.0.1:1]
    contracts: {settler: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0'}
    tokens:
      USDC: {address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6}
"""


def config(account: str, env: dict | None = None, extra: str = ""):
    text = CHAINS + "funding:\n" + extra + "  accounts:\n    gas:\n" + "".join(
        f"      {line}\n" for line in account.strip().splitlines())
    return load_text(text, "supervisor.yaml", make_app(),
                     {"KEY": KEY} if env is None else env)


BASE = f"""chain: devnet-a
address: '{ADDR}'
min_balance: '1'
target_balance: '2'
max_per_top_up: '1'
daily_cap: '5'
source: {{key: '${{KEY:-}}'}}"""


def test_valid_account_resolves_to_base_units():
    cfg = config(BASE + "\nasset: USDC")
    spec = resolve(cfg.section("funding", FundingConfig), "gas", cfg.section("chains", dict))
    assert spec.asset == "USDC" and spec.decimals == 6
    assert (spec.min_balance, spec.target_balance, spec.daily_cap) == (10**6, 2 * 10**6,
                                                                       5 * 10**6)
    assert spec.chain_id == 31337 and spec.token.address.startswith("0x5FbDB")
    assert "59c6995e" not in repr(cfg.section("funding", FundingConfig))          # a Secret: never shown
    native = config(BASE.replace("chain: devnet-a", "chain: '31337'"))
    spec = resolve(native.section("funding", FundingConfig), "gas", native.section("chains", dict))
    assert spec.asset == "native" and spec.min_balance == 10**18 and spec.chain_name == "devnet-a"


@pytest.mark.parametrize("change,where,expected", [
    (("chain: devnet-a", "chain: devnet-z"), "funding", "unknown chain 'devnet-z'"),
    (("daily_cap: '5'", "daily_cap: '5'\nasset: DAI"), "funding", "unknown token 'DAI'"),
    (("target_balance: '2'", "target_balance: '0.5'"), "funding.accounts.gas",
     "target_balance must be >= min_balance"),
    (("min_balance: '1'", "min_balance: '0.0000001'\nasset: USDC"), "funding",
     "more than 6 decimals"),
    (("min_balance: '1'", "min_balance: 'lots'"), "funding.accounts.gas.min_balance",
     "expected a value matching"),
    (("max_per_top_up: '1'", "max_per_top_up: '0'"), "funding.accounts.gas",
     "max_per_top_up must be > 0"),
    (("address: '0x7", "address: '0xZ"), "funding.accounts.gas.address", "expected a value"),
    (("cooldown", "cooldown"), None, None),
    (("source: {key: '${KEY:-}'}", "source: {key: '${KEY:-}', keystore: /nonexistent}"),
     "funding.accounts.gas.source", "set one of key, keystore or remote, not both"),
    (("source: {key: '${KEY:-}'}", "source: {keystore: /nonexistent}"),
     "funding.accounts.gas.source", "cannot read"),
    (("daily_cap: '5'", "daily_cap: '5'\nsurprise: 1"), "funding.accounts.gas.surprise",
     "unknown key"),
])
def test_invalid_config_is_refused_with_the_key_named(change, where, expected):
    text = BASE.replace(*change)
    if where is None:
        config(text)
        return
    with pytest.raises(ConfigError) as exc:
        config(text)
    assert exc.value.key == where and expected in str(exc.value)


def test_key_not_matching_is_refused_without_showing_it():
    with pytest.raises(ConfigError) as exc:
        config(BASE, env={"KEY": "0xnot-a-key-but-secret-material"})
    assert "secret-material" not in str(exc.value) and "***" in str(exc.value)


def test_two_accounts_on_one_balance_are_refused():
    text = CHAINS + "funding:\n  accounts:\n" + "".join(
        f"    {n}:\n" + "".join(f"      {line}\n" for line in BASE.splitlines())
        for n in ("x", "y"))
    with pytest.raises(ConfigError) as exc:
        load_text(text, "supervisor.yaml", make_app(), {"KEY": KEY})
    assert "the same balance as accounts.x" in str(exc.value)


def test_account_without_key_is_not_started_and_logged(caplog):
    cfg = config(BASE, env={})
    with caplog.at_level(logging.INFO, logger="orbital.funding"):
        tree = make_app().tree(cfg)
    funding = next(c for c in tree.children if c.id == "funding")
    assert funding.config.children == ()
    assert "not started: no source key" in caplog.text
    cfg = config(BASE)
    funding = next(c for c in make_app().tree(cfg).children if c.id == "funding")
    [child] = funding.config.children
    assert child.id == "gas" and child.actor is FundingAccount


def test_keystore_signer(tmp_path):
    path = tmp_path / "treasury.json"
    import json
    path.write_text(json.dumps(Account.encrypt(KEY, "pw-0123456789", kdf="pbkdf2",
                                               iterations=2)))
    cfg = config(BASE.replace("source: {key: '${KEY:-}'}",
                              f"source: {{keystore: '{path}', password: '${{PW}}'}}"),
                 env={"PW": "pw-0123456789"})
    spec = resolve(cfg.section("funding", FundingConfig), "gas", cfg.section("chains", dict))
    assert spec.config.source.configured
    assert load_signer(spec.config.source).address == ADDR
    assert "pw-0123456789" not in repr(spec)
