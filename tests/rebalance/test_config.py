"""The ``rebalance:`` section: validated once at load (also across sections), amounts in
base units, signer from the environment or a keystore, never shown."""

from __future__ import annotations

from actors.rebalance import RebalanceConfig

import json

import pytest
from eth_account import Account

from actors.chain_watcher import install as install_watchers
from actors.rebalance import StrategySpec
from actors.rebalance import install as install_rebalance
from devnet import ACCOUNTS, predicted_addresses
from node import new_app
from runtime import ConfigError
from runtime.config import App, load_text

ADDR = predicted_addresses()
KEY = ACCOUNTS[2].private_key

CHAINS = f"""
chains:
  devnet-a:
    chain_id: 31337
    rpc: [http://127.0.0.1:1]
    contracts: {{settler: '{ADDR['settler']}', bridge: '{ADDR['bridge']}'}}
    tokens: {{USDC: {{address: '{ADDR['USDC']}', decimals: 6}}}}
  devnet-b:
    chain_id: 31338
    rpc: [http://127.0.0.1:2]
    contracts: {{settler: '{ADDR['settler']}', bridge: '{ADDR['bridge']}'}}
    tokens: {{USDC: {{address: '{ADDR['USDC']}', decimals: 6}},
              WETH: {{address: '{ADDR['WETH']}', decimals: 18}}}}
  no-bridge:
    chain_id: 5
    rpc: [http://127.0.0.1:3]
    contracts: {{settler: '{ADDR['settler']}'}}
    tokens: {{USDC: {{address: '{ADDR['USDC']}', decimals: 6}}}}
"""


def app() -> App:
    a = new_app()
    install_watchers(a)
    install_rebalance(a)
    return a


def load(strategy: str, env: dict | None = None):
    text = CHAINS + "rebalance:\n  strategies:\n    s: {" + strategy + "}\n"
    return load_text(text, "supervisor.yaml", app(),
                     {"OP_KEY": KEY, "OP_PASSWORD": "pw"} | (env or {}))


GOOD = ("token: USDC, weights: {devnet-a: 0.7, devnet-b: 0.3}, min_transfer: '0.5', "
        "max_transfer: '1000', signer: {key: '${OP_KEY}'}")


def test_valid_strategy_to_spec_in_base_units():
    cfg = load(GOOD)
    s = cfg.section("rebalance", RebalanceConfig).strategies["s"]
    spec = StrategySpec.build("s", s, cfg.section("chains", dict))
    assert (spec.min_units, spec.max_units, spec.decimals) == (500_000, 1_000 * 10**6, 6)
    assert [(leg.chain, leg.target, leg.chain_id) for leg in spec.legs] == \
        [("devnet-a", 0.7, 31337), ("devnet-b", 0.3, 31338)]
    assert spec.legs[0].bridge == ADDR["bridge"] and spec.legs[0].token == ADDR["USDC"]
    assert KEY[2:] not in repr(s) and s.signer.private_key() == KEY
    assert spec == StrategySpec.build("s", s, cfg.section("chains", dict))   # reload: unchanged


@pytest.mark.parametrize("body, message", [
    ("token: USDC, weights: {devnet-a: 0.7, devnet-b: 0.2}", "must sum to 1"),
    ("token: USDC, weights: {devnet-a: 1.0}", "at least two chains"),
    ("token: USDC, weights: {devnet-a: 0.5, mars: 0.5}", "unknown chain 'mars'"),
    ("token: USDC, weights: {devnet-a: 0.5, no-bridge: 0.5}", "no contracts.bridge"),
    ("token: WETH, weights: {devnet-a: 0.5, devnet-b: 0.5}", "WETH is not listed"),
    ("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, min_transfer: '10', "
     "max_transfer: '5'", "min_transfer must be <= max_transfer"),
    ("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, min_transfer: '0.0000001'",
     "more than 6 decimals"),
    ("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, min_transfer: 'ten'",
     "decimal number"),
    ("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, tolerance: 0.9", "<= 0.5"),
    ("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, "
     "signer: {key: '${OP_KEY}', keystore: k.json, password: '${OP_PASSWORD}'}", "not both"),
    ("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, "
     "signer: {keystore: k.json, password: inline-password}", "a secret written inline"),
    ("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, signer: {keystore: k.json}",
     "needs password"),
    ("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, signer: {key: '${BAD}'}",
     "expected a value matching"),
    ("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, typo: 1", "unknown key"),
])
def test_invalid_strategies_are_refused_at_load(body, message):
    with pytest.raises(ConfigError) as err:
        load(body, {"BAD": "not-a-key"})
    assert message in str(err.value)
    assert KEY[2:] not in str(err.value) and "not-a-key" not in str(err.value)


def test_keystore_signer(tmp_path):
    path = tmp_path / "op.json"
    path.write_text(json.dumps(Account.encrypt(KEY, "pw")))
    cfg = load(f"token: USDC, weights: {{devnet-a: 0.5, devnet-b: 0.5}}, "
               f"signer: {{keystore: '{path}', password: '${{PW}}'}}", {"PW": "pw"})
    signer = cfg.section("rebalance", RebalanceConfig).strategies["s"].signer
    assert signer.configured and signer.private_key() == KEY


def test_empty_key_means_not_configured():
    cfg = load("token: USDC, weights: {devnet-a: 0.5, devnet-b: 0.5}, "
               "signer: {key: '${NOPE:-}'}")
    s = cfg.section("rebalance", RebalanceConfig).strategies["s"]
    assert not s.signer.configured
    rebalance = next(c for c in app().tree(cfg).children if c.id == "rebalance")
    assert rebalance.config.children == ()
