"""``kind: solana`` chains in the ``chains:`` section, beside EVM ones: what loads, and
the file:line errors of what does not. EVM readers (``chains_of``) never see a Solana
chain; no devnet: the config is only loaded."""

from __future__ import annotations

import pytest

from actors.chain_watcher import install
from chains.evm.config import ChainConfig, chains_of
from chains.solana import SolanaChainConfig, solana_chains_of
from node import build_app, new_app
from runtime import ConfigError
from runtime.config import load_config

MINT = "444YucPLqi6FUoEiUw7Dveb3RDfZzPAazdJSATSAkfcT"
EVM = ("  evm-a: {chain_id: 31337, rpc: [http://127.0.0.1:1],\n"
       "          contracts: {bridge: '0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9'}}\n")


def _load(tmp_path, body: str):
    path = tmp_path / "supervisor.yaml"
    path.write_text("chains:\n" + EVM + body)
    app = new_app()
    install(app)
    return load_config(str(path), app, {})


def test_a_solana_chain_loads_beside_an_evm_one(tmp_path):
    cfg = _load(tmp_path, (
        "  sol:\n"
        "    kind: solana\n"
        "    rpc: [http://127.0.0.1:8899, http://127.0.0.1:8898]\n"
        "    commitment: finalized\n"
        "    start_slot: 10\n"
        "    lease_ttl: 5\n"
        f"    tokens: {{USDC: {{mint: '{MINT}', decimals: 6}}}}\n"))
    [sol] = solana_chains_of(cfg).values()
    assert isinstance(sol, SolanaChainConfig)
    assert sol.rpc == ("http://127.0.0.1:8899", "http://127.0.0.1:8898")
    assert (sol.commitment, sol.start_slot, sol.lease_ttl) == ("finalized", 10, 5.0)
    assert sol.tokens["USDC"].mint == MINT and sol.tokens["USDC"].decimals == 6
    evm = chains_of(cfg)                      # EVM readers: the EVM chain only
    assert list(evm) == ["evm-a"] and isinstance(evm["evm-a"], ChainConfig)
    assert set(solana_chains_of(cfg)) == {"sol"}


def test_defaults(tmp_path):
    sol = solana_chains_of(_load(tmp_path, "  sol: {kind: solana, rpc: [http://h:1]}\n"))["sol"]
    assert (sol.commitment, sol.start_slot, sol.poll_interval, sol.tokens) == \
        ("confirmed", None, 1.0, {})


@pytest.mark.parametrize("body, key, expected", [
    ("  sol: {kind: solana, rpc: [http://h:1], commitment: processed}\n",
     "chains.sol.commitment", "expected one of confirmed, finalized, got 'processed'"),
    ("  sol: {kind: solana, rpc: [http://h:1], tokens: {USDC: {mint: '0xabc', decimals: 6}}}\n",
     "chains.sol.tokens.USDC.mint", "expected a base58 public key"),
    ("  sol: {kind: solana, rpc: [http://h:1], tokens: {USDC: {mint: '111', decimals: 6}}}\n",
     "chains.sol.tokens.USDC.mint", "expected a base58 public key"),
    (f"  sol: {{kind: solana, rpc: [http://h:1], tokens: {{USDC: {{mint: '{MINT}'}}}}}}\n",
     "chains.sol.tokens.USDC.decimals", "required key is missing"),
    (f"  sol: {{kind: solana, rpc: [http://h:1], tokens: {{A: {{mint: '{MINT}', decimals: 6}},"
     f" B: {{mint: '{MINT}', decimals: 6}}}}}}\n",
     "chains.sol", "tokens.B: mint listed twice"),
    ("  sol: {kind: solana, rpc: []}\n", "chains.sol", "at least one URL"),
    ("  sol: {kind: solana, rpc: [ftp://h]}\n", "chains.sol.rpc[0]", "expected a value matching"),
    ("  sol: {kind: solana, rpc: [http://h:1], start_slot: -1}\n",
     "chains.sol.start_slot", "expected >= 0"),
    ("  sol: {kind: solana, rpc: [http://h:1], chain_id: 0}\n",
     "chains.sol.chain_id", "expected >= 1"),
    ("  sol: {kind: solana, rpc: [http://h:1], chain_id: 31337}\n",     # the EVM chain's id
     "chains.sol.chain_id", "chain id 31337 is already that of chain 'evm-a'"),
    ("  sol: {kind: cosmos, rpc: [http://h:1]}\n",
     "chains.sol.kind", "expected one of evm, solana, got 'cosmos'"),
    ("  sol: {rpc: [http://h:1], commitment: confirmed}\n",     # no kind: an EVM chain
     "chains.sol.commitment", "unknown key"),
])
def test_bad_solana_chains_name_file_line_and_key(tmp_path, body, key, expected):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, body)
    text = str(err.value)
    assert "supervisor.yaml:4" in text and key in text and expected in text, text


def test_a_solana_chain_id_makes_it_a_destination_id(tmp_path):
    cfg = _load(tmp_path, "  sol: {kind: solana, rpc: [http://h:1], chain_id: 900}\n")
    assert solana_chains_of(cfg)["sol"].chain_id == 900
    assert solana_chains_of(_load(tmp_path, "  sol: {kind: solana, rpc: [http://h:1]}\n")
                            )["sol"].chain_id is None


@pytest.mark.parametrize("body, line, key", [
    # two Solana chains with one id: the second is named, on its own line
    ("  s1: {kind: solana, rpc: [http://h:1], chain_id: 900}\n"
     "  s2: {kind: solana, rpc: [http://h:2], chain_id: 900}\n", 5, "chains.s2.chain_id"),
    # two EVM chains with one id (never checked before Solana chains had ids)
    ("  evm-b:\n    chain_id: 31337\n    rpc: [http://127.0.0.1:2]\n"
     "    contracts: {bridge: '0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9'}\n",
     5, "chains.evm-b.chain_id"),
])
def test_chain_ids_are_unique_across_kinds(tmp_path, body, line, key):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, body)
    assert err.value.line == line and err.value.key == key, str(err.value)
    assert "must be unique across all chains" in str(err.value)


def test_devnet_lists_solana_local_with_its_destination_id(tmp_path):
    """The chains section the devnet writes for solana-local, and the default supervisor.yaml,
    give it chain id 900: the id the devnet settlers register with setDestination32."""
    from devnet import DevnetInfo, chains_yaml
    from devnet.solana_keys import CHAIN_ID, solana_entry
    text = chains_yaml(DevnetInfo(str(tmp_path), (), solana=solana_entry("http://h:1", 1, "x.log")))
    path = tmp_path / "supervisor.yaml"
    path.write_text(text)
    app = new_app()
    install(app)
    [sol] = solana_chains_of(load_config(str(path), app, {})).values()
    assert sol.chain_id == CHAIN_ID == 900
    default = load_config("supervisor.yaml", build_app(), {})
    assert solana_chains_of(default)["solana-local"].chain_id == CHAIN_ID
