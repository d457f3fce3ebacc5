"""Solver configuration: YAML and/or flags + env, chains from devnet.json, keys never shown.

Config rules read devnet.json and never a chain: the devnet here is its devnet.json, written
in tmp_path (tests._devnet), so these tests start no anvil."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from devnet import DevnetInfo
from solver import SolverConfigError, load_config
from solver.__main__ import main
from tests._devnet import offline_devnet

KEY = "0x" + "ab" * 32


@pytest.fixture
def devnet_json(tmp_path) -> DevnetInfo:
    """The devnet.json ``devnet up`` writes, in ``tmp_path/devnet`` (its state dir)."""
    return offline_devnet(tmp_path / "devnet")


def test_defaults_come_from_devnet_json(devnet_json):
    cfg = load_config(devnet_dir=devnet_json.state_dir, env={"ORBITAL_SOLVER_KEY": KEY})
    assert cfg.target == "127.0.0.1:50051"
    assert cfg.address == Account.from_key(KEY).address
    assert [(c.name, c.chain_id, c.rpc_url, c.settler) for c in cfg.chains] == [
        (c.name, c.chain_id, c.rpc_url, c.contracts.settler) for c in devnet_json.chains]
    a = devnet_json.chains[0]
    assert cfg.chain(a.name).tokens["USDC"] == a.contracts.tokens["USDC"].address
    assert cfg.chain(a.chain_id) is cfg.chain(str(a.chain_id)) is cfg.chain(a.name)
    assert (cfg.improvement_bps, cfg.max_parallel, cfg.tokens) == (10, 4, ())


def test_yaml_file_then_flags(tmp_path, devnet_json):
    a, b = devnet_json.chains
    path = tmp_path / "solver.yaml"
    path.write_text(f"""
target: 127.0.0.1:6000
devnet_dir: {devnet_json.state_dir}
key_env: MY_KEY
chains:
  {a.name}: {{}}
  {b.name}: {{rpc_url: 'http://127.0.0.1:1'}}
tokens: [usdc]
improvement_bps: ${{BPS}}
""")
    cfg = load_config(str(path), env={"MY_KEY": KEY, "BPS": "25"}, target="127.0.0.1:7000")
    assert cfg.target == "127.0.0.1:7000"          # the flag wins over the file
    assert cfg.improvement_bps == 25               # ${ENV} in the file
    assert cfg.tokens == ("USDC",)
    assert cfg.chain(b.name).rpc_url == "http://127.0.0.1:1"
    assert cfg.chain(b.name).settler == b.contracts.settler   # the rest from devnet.json
    chain_b = cfg.chain(b.name)
    assert cfg.serves_token(chain_b, b.contracts.tokens["USDC"].address)
    assert not cfg.serves_token(chain_b, b.contracts.tokens["WETH"].address)


def test_chain_outside_the_devnet_needs_every_field(tmp_path, devnet_json):
    path = tmp_path / "solver.yaml"
    path.write_text(f"devnet_dir: {devnet_json.state_dir}\nchains:\n  mainnet: {{rpc_url: 'http://x'}}\n")
    with pytest.raises(SolverConfigError, match=r"chains\.mainnet\.chain_id: required"):
        load_config(str(path), env={"ORBITAL_SOLVER_KEY": KEY})


def test_file_errors_name_line_and_key(tmp_path):
    path = tmp_path / "solver.yaml"
    path.write_text("target: x\nimprovement_bps: -1\n")
    with pytest.raises(SolverConfigError, match=r"solver\.yaml:2: improvement_bps"):
        load_config(str(path), env={})
    path.write_text("target: x\ntypo_key: 1\n")
    with pytest.raises(SolverConfigError, match="typo_key"):
        load_config(str(path), env={})


def test_unknown_token(devnet_json):
    with pytest.raises(SolverConfigError, match="tokens: DOGE is not a token"):
        load_config(devnet_dir=devnet_json.state_dir, tokens=["DOGE"], env={"ORBITAL_SOLVER_KEY": KEY})


def test_key_never_shows(devnet_json, tmp_path):
    cfg = load_config(devnet_dir=devnet_json.state_dir, env={"ORBITAL_SOLVER_KEY": KEY})
    secret = KEY[2:]
    for text in (repr(cfg), str(cfg), repr(cfg.key), f"{cfg.key}"):
        assert secret not in text
    assert repr(cfg.key) == f"SolverKey({cfg.address})"
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(cfg.key)
    bad = KEY[:-2] + "zz"
    with pytest.raises(SolverConfigError) as exc:
        load_config(devnet_dir=devnet_json.state_dir, env={"ORBITAL_SOLVER_KEY": bad})
    assert str(exc.value) == "ORBITAL_SOLVER_KEY: not a 32-byte hex private key"
    assert bad[2:-2] not in repr(exc.value)
    assert exc.value.__suppress_context__   # a traceback never shows the parser's message


def test_keystore(tmp_path, devnet_json):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(KEY, "pw", kdf="pbkdf2", iterations=2)))
    cfg = load_config(devnet_dir=devnet_json.state_dir, keystore=str(path),
                      env={"ORBITAL_SOLVER_KEYSTORE_PASSWORD": "pw"})
    assert cfg.address == Account.from_key(KEY).address
    with pytest.raises(SolverConfigError, match="cannot decrypt keystore"):
        load_config(devnet_dir=devnet_json.state_dir, keystore=str(path),
                    env={"ORBITAL_SOLVER_KEYSTORE_PASSWORD": "wrong"})
    with pytest.raises(SolverConfigError, match="needs a password"):
        load_config(devnet_dir=devnet_json.state_dir, keystore=str(path), env={})


def test_devnet_account_and_missing_key(devnet_json):
    cfg = load_config(devnet_dir=devnet_json.state_dir, devnet_account="solver", env={})
    assert cfg.address == devnet_json.account("solver").address
    with pytest.raises(SolverConfigError, match=r"no key: set \$ORBITAL_SOLVER_KEY"):
        load_config(devnet_dir=devnet_json.state_dir, env={})


def test_cli_reports_config_errors_without_the_key(devnet_json, capsys, monkeypatch):
    monkeypatch.setenv("ORBITAL_SOLVER_KEY", "0x" + "cd" * 31 + "zz")
    assert main(["--devnet-dir", devnet_json.state_dir]) == 2
    err = capsys.readouterr().err
    assert "not a 32-byte hex private key" in err and "cdcdcd" not in err


def test_the_documented_example_loads(tmp_path, devnet_json):
    from pathlib import Path
    doc = (Path(__file__).parents[2] / "docs" / "reference-solver.md").read_text()
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "solver.yaml"
    path.write_text(example.replace("devnet_dir: var", f"devnet_dir: {devnet_json.state_dir}"))
    cfg = load_config(str(path), env={"ORBITAL_SOLVER_KEY": KEY})
    assert [c.name for c in cfg.chains] == ["devnet-a", "devnet-b"]
    assert cfg.chain("devnet-b").rpc_url == "http://127.0.0.1:8546"
    assert cfg.tokens == ("USDC", "WETH") and cfg.improvement_bps == 10
    assert (cfg.solana_chains, cfg.solana_key, cfg.state_dir) == ((), None, "var/solver")
