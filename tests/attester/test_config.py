"""The ``attester:`` section: key from the environment only, empty key = not started (and
said so), the key never shown; fee and replacement keys are TxConfig's."""

from __future__ import annotations

import logging

import pytest

from actors.attester import AttesterConfig, install
from chains.evm.txsend import TxConfig
from chains.evm.config import ChainConfig
from node import new_app
from runtime import ConfigError
from runtime.config import App, load_config

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
CHAINS = """chains:
  a: {chain_id: 31337, rpc: [http://127.0.0.1:1], contracts: {settler: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0'}}
  b: {chain_id: 31338, rpc: [http://127.0.0.1:2], contracts: {settler: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0'}}
"""


def _app() -> App:
    app = new_app()
    app.section("chains", dict[str, ChainConfig])
    install(app)
    return app


def _intents(app, cfg):
    [intents] = [c for c in app.tree(cfg).children if c.id == "intents"]
    return intents.config.children


def _load(tmp_path, body: str, env: dict):
    path = tmp_path / "supervisor.yaml"
    path.write_text(CHAINS + body)
    app = _app()
    return app, load_config(str(path), app, env)


def test_empty_key_means_no_attester_and_a_log_line(tmp_path, caplog):
    app, cfg = _load(tmp_path, "attester:\n  key: ${ORBITAL_ATTESTER_KEY:-}\n", {})
    assert not cfg.section("attester", AttesterConfig).enabled
    with caplog.at_level(logging.INFO, logger="orbital.attester"):
        children = _intents(app, cfg)
    assert [c.id for c in children] == ["solvers"]
    assert any("attester not started" in r.getMessage() and "ORBITAL_ATTESTER_KEY" in r.getMessage()
               for r in caplog.records)


def test_key_from_env_starts_it_under_intents_and_never_shows(tmp_path):
    app, cfg = _load(tmp_path, "attester:\n  key: ${ORBITAL_ATTESTER_KEY:-}\n  chains: [a]\n",
                     {"ORBITAL_ATTESTER_KEY": KEY})
    section: AttesterConfig = cfg.section("attester", AttesterConfig)
    assert section.enabled and KEY[2:] not in repr(section)
    [spec] = [c for c in _intents(app, cfg) if c.id == "attester"]
    assert spec.config.origins == ("a",) and set(spec.config.chains) == {"a", "b"}
    assert KEY[2:] not in repr(spec.config)


def test_a_malformed_key_is_refused_without_echoing_it(tmp_path):
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, "attester:\n  key: ${ORBITAL_ATTESTER_KEY:-}\n",
              {"ORBITAL_ATTESTER_KEY": "0x1234-not-a-key"})
    assert "attester.key" in str(exc.value) and "not-a-key" not in str(exc.value)


def test_fee_and_replacement_keys_are_the_tx_senders_own(tmp_path):
    """The section is a TxConfig: the same keys, bounds and rules as every other sender."""
    _, cfg = _load(tmp_path, "attester:\n  key: ${ORBITAL_ATTESTER_KEY:-}\n  replace_after: 5\n"
                             "  fee_bump: 0.2\n  max_fee_gwei: 100\n  gas_margin: 1.5\n",
                   {"ORBITAL_ATTESTER_KEY": KEY})
    section = cfg.section("attester", AttesterConfig)
    assert isinstance(section, TxConfig)
    assert (section.replace_after, section.fee_bump, section.max_fee_gwei, section.gas_margin) \
        == (5.0, 0.2, 100.0, 1.5)
    with pytest.raises(ConfigError) as exc:               # geth's 12.5 % replacement rule
        _load(tmp_path, "attester:\n  fee_bump: 0.1\n", {})
    assert "attester.fee_bump" in str(exc.value)


def test_settlement_depth_is_the_chains_and_the_old_key_is_refused_by_name(tmp_path):
    """Migration: attester.settlement_depth moved to chains.<name>.settlement_depth."""
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, "attester:\n  settlement_depth: 3\n", {})
    assert "attester.settlement_depth" in str(exc.value) and "unknown key" in str(exc.value)
    _, cfg = _load(tmp_path, "attester:\n  shortfall_policy: settle\n", {})
    assert cfg.section("attester", AttesterConfig).shortfall_policy == "settle"
    assert {n: c.settlement_depth for n, c in cfg.section("chains", dict).items()} == {"a": 0, "b": 0}
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, "attester:\n  shortfall_policy: maybe\n", {})
    assert "attester.shortfall_policy" in str(exc.value)


def test_solana_destinations_are_the_solana_chains_with_a_chain_id(tmp_path):
    """Solana chains with a ``chain_id`` (intent destinations) are handed to the attester
    for their finalized re-reads; one without is watched only, and neither is an origin."""
    from chains.solana import SolanaChainConfig

    mint = "444YucPLqi6FUoEiUw7Dveb3RDfZzPAazdJSATSAkfcT"
    path = tmp_path / "supervisor.yaml"
    path.write_text(CHAINS + f"""  sol: {{kind: solana, chain_id: 900, rpc: [http://127.0.0.1:3],
         tokens: {{USDC: {{mint: {mint}, decimals: 6}}}}}}
  watched: {{kind: solana, rpc: [http://127.0.0.1:4]}}
attester:
  key: ${{ORBITAL_ATTESTER_KEY:-}}
""")
    app = new_app()
    app.section("chains", dict[str, ChainConfig | SolanaChainConfig])
    install(app)
    cfg = load_config(str(path), app, {"ORBITAL_ATTESTER_KEY": KEY})
    [spec] = [c for c in _intents(app, cfg) if c.id == "attester"]
    assert set(spec.config.solana) == {"sol"} and spec.config.solana["sol"].chain_id == 900
    assert spec.config.origins == ("a", "b")
