"""Solver configuration of Solana chains: from devnet.json's solana-local or explicit YAML,
the Solana key from an env var, a JSON key file or a devnet account, and every mistake
reported naming its key (and never echoing a secret). No chain is reached here."""

from __future__ import annotations

import dataclasses
import json

import pytest
from solders.keypair import Keypair

from devnet.info import write_info
from devnet.solana_keys import CHAIN_ID, SOLANA_ACCOUNTS, mint_keypair, solana_entry
from solver import SolverConfigError, load_config
from tests._devnet import offline_devnet

KEY = "0x" + "ab" * 32
MINT = str(mint_keypair().pubkey())
EVM_TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"


@pytest.fixture
def devnet_dir(tmp_path) -> str:
    """devnet.json with both EVM chains and solana-local (on a port nothing listens on)."""
    info = offline_devnet(tmp_path / "devnet")
    write_info(dataclasses.replace(info, solana=solana_entry("http://127.0.0.1:1", 0, "x.log")))
    return info.state_dir


def _load(devnet_dir, path=None, env=None, **kw):
    return load_config(path, devnet_dir=devnet_dir, env={"ORBITAL_SOLVER_KEY": KEY, **(env or {})}, **kw)


def _yaml(tmp_path, text: str) -> str:
    path = tmp_path / "solver.yaml"
    path.write_text(text)
    return str(path)


def test_devnet_solana_chain_with_a_devnet_account(devnet_dir):
    cfg = _load(devnet_dir, solana_devnet_account="solver")
    (chain,) = cfg.solana_chains
    assert (chain.name, chain.chain_id, chain.rpc_urls) == ("solana-local", CHAIN_ID, ("http://127.0.0.1:1",))
    assert (chain.tokens["USDC"].mint, chain.tokens["USDC"].decimals) == (MINT, 6)
    assert chain.commitment == "confirmed" and chain.min_lamports == 10_000_000
    assert cfg.solana_key is not None and cfg.solana_key.pubkey == str(SOLANA_ACCOUNTS[2].pubkey)
    # The hello declares every chain served, the Solana one too.
    assert cfg.chain_ids == tuple(c.chain_id for c in cfg.chains) + (CHAIN_ID,)
    assert cfg.serves_token(chain, MINT)
    assert not cfg.serves_token(chain, MINT.lower())       # base58 is case-sensitive


def test_the_evm_devnet_account_also_picks_the_solana_role(devnet_dir):
    cfg = load_config(devnet_dir=devnet_dir, devnet_account="solver", env={})
    assert cfg.solana_key is not None and cfg.solana_key.pubkey == str(SOLANA_ACCOUNTS[2].pubkey)


def test_no_solana_key_and_a_default_chain_serves_evm_only(devnet_dir):
    cfg = _load(devnet_dir)
    assert (cfg.solana_chains, cfg.solana_key) == ((), None)
    assert cfg.chain_ids == tuple(c.chain_id for c in cfg.chains)


def test_key_from_env_and_from_a_json_key_file(devnet_dir, tmp_path):
    kp = Keypair()
    cfg = _load(devnet_dir, env={"ORBITAL_SOLVER_SOLANA_KEY": str(kp)})
    assert cfg.solana_key.pubkey == str(kp.pubkey())
    assert str(kp) not in repr(cfg) and str(kp.pubkey()) in repr(cfg.solana_key)
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(bytes(kp))))
    assert _load(devnet_dir, solana_key_file=str(path)).solana_key.pubkey == str(kp.pubkey())


def test_explicit_yaml_chain(tmp_path, devnet_dir):
    mint = str(Keypair().pubkey())
    path = _yaml(tmp_path, f"""
devnet_dir: {devnet_dir}
solana_key_env: SOL
solana_chains:
  mainnet-ish:
    rpc: ['http://127.0.0.1:2', 'http://127.0.0.1:3']
    chain_id: 901
    commitment: finalized
    min_sol: 0.5
    tokens:
      usdt: {{mint: {mint}, decimals: 6}}
""")
    cfg = load_config(path, env={"ORBITAL_SOLVER_KEY": KEY, "SOL": str(Keypair())})
    (chain,) = cfg.solana_chains
    assert (chain.name, chain.chain_id, chain.rpc_urls, chain.commitment, chain.min_lamports) == (
        "mainnet-ish", 901, ("http://127.0.0.1:2", "http://127.0.0.1:3"), "finalized", 500_000_000)
    assert chain.tokens["USDT"].mint == mint


@pytest.mark.parametrize("body, env, message", [
    ("solana_chains: {x: {rpc: ['http://h:1'], chain_id: 901, tokens: {USDC: {mint: '" + EVM_TOKEN
     + "', decimals: 6}}}}",
     {"ORBITAL_SOLVER_SOLANA_KEY": "K"}, "solana_chains.x.tokens.USDC.mint: '0xA0b8"),
    ("solana_chains: {x: {rpc: ['http://h:1'], chain_id: 901, tokens: {USDC: {mint: M}}}}",
     {"ORBITAL_SOLVER_SOLANA_KEY": "K"}, "solana_chains.x.tokens.USDC.decimals: required"),
    ("solana_chains: {x: {chain_id: 901, tokens: {USDC: {mint: M, decimals: 6}}}}",
     {"ORBITAL_SOLVER_SOLANA_KEY": "K"}, "solana_chains.x.rpc: required"),
    ("solana_chains: {x: {rpc: ['ws://h:1'], chain_id: 901, tokens: {USDC: {mint: M, decimals: 6}}}}",
     {"ORBITAL_SOLVER_SOLANA_KEY": "K"}, "solana_chains.x.rpc[0]: expected an http(s) URL"),
    ("solana_chains: {x: {rpc: ['http://h:1'], tokens: {USDC: {mint: M, decimals: 6}}}}",
     {"ORBITAL_SOLVER_SOLANA_KEY": "K"}, "solana_chains.x.chain_id: required"),
    ("solana_chains: {x: {rpc: ['http://h:1'], chain_id: 901}}",
     {"ORBITAL_SOLVER_SOLANA_KEY": "K"}, "solana_chains.x.tokens: at least one"),
    ("solana_chains: {x: {rpc: ['http://h:1'], chain_id: 31337, tokens: {USDC: {mint: M, decimals: 6}}}}",
     {"ORBITAL_SOLVER_SOLANA_KEY": "K"}, "shares its chain id"),
    ("solana_chains: {solana-local: {}}", {}, "solana_chains: no Solana key"),
    ("solana_chains: {solana-local: {}}", {"ORBITAL_SOLVER_SOLANA_KEY": "not-a-key"},
     "ORBITAL_SOLVER_SOLANA_KEY: not a base58 64-byte Solana keypair"),
    ("solana_devnet_account: nobody", {}, "solana_devnet_account: no devnet Solana account 'nobody'"),
    ("solana_chains: {solana-local: {commitment: processed}}", {"ORBITAL_SOLVER_SOLANA_KEY": "K"},
     "commitment"),
])
def test_errors_name_the_key(tmp_path, devnet_dir, body, env, message):
    key = str(Keypair())
    env = {k: (key if v == "K" else v) for k, v in env.items()}
    path = _yaml(tmp_path, f"devnet_dir: {devnet_dir}\n" + body.replace("M", str(Keypair().pubkey())) + "\n")
    with pytest.raises(SolverConfigError) as err:
        load_config(path, env={"ORBITAL_SOLVER_KEY": KEY, **env})
    assert message in str(err.value)
    assert key not in str(err.value)


def test_key_file_errors(tmp_path, devnet_dir):
    path = tmp_path / "id.json"
    for content, message in [(None, "not found"), ("{", "is not JSON"), ("[1, 2]", "a JSON array of 64 bytes"),
                             (json.dumps(list(bytes(Keypair()))[:32] + [0] * 32), "does not match")]:
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(content)
        with pytest.raises(SolverConfigError, match=f"solana_key_file: .*{message}"):
            _load(devnet_dir, solana_key_file=str(path))


def test_solana_devnet_account_on_a_devnet_without_solana(tmp_path):
    info = offline_devnet(tmp_path / "evm-only")
    with pytest.raises(SolverConfigError, match="solana_devnet_account: the devnet runs no Solana chain"):
        _load(info.state_dir, solana_devnet_account="solver")
