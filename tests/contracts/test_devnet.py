"""The devnet package: what devnet.json promises, deterministic addresses, funded and approved
accounts, and a lifecycle that is idempotent and leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account

import devnet
from devnet import ACCOUNTS, DEFAULT_MNEMONIC, DevnetError, predicted_addresses
from devnet.anvil import find_anvil, is_alive, port_in_use
from tests._devnet import assert_progress

REPO = Path(__file__).resolve().parents[2]
MAX = 2**256 - 1


def _wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_devnet_json_describes_the_deployment(devnet_info):
    doc = json.loads((Path(devnet_info.state_dir) / "devnet.json").read_text())
    assert [(c["name"], c["chain_id"]) for c in doc["chains"]] == [("devnet-a", 31337), ("devnet-b", 31338)]
    addresses = predicted_addresses()
    for chain in doc["chains"]:
        assert chain["rpc_url"].startswith("http://127.0.0.1:") and chain["kind"] == "evm"
        assert is_alive(chain["pid"])
        c = chain["contracts"]
        assert c["settler"] == addresses["settler"] and c["bridge"] == addresses["bridge"]
        assert {k: (v["address"], v["decimals"]) for k, v in c["tokens"].items()} == {
            "USDC": (addresses["USDC"], 6), "WETH": (addresses["WETH"], 18)}
        assert set(c["feeds"]) == {"WETH/USD", "USDC/USD"}
        assert c["pools"]["USDC/WETH"]["address"] == addresses["pool:USDC/WETH"]
    assert doc["roles"]["treasury"] == [0] and doc["roles"]["attester"] == [1] and doc["roles"]["operator"] == [2]
    assert doc["roles"]["solver"] == [3] and doc["roles"]["user"] == list(range(4, 10))
    assert "solana" not in doc  # only present once solana-local runs
    assert devnet.load_info(devnet_info.state_dir) == devnet_info


def test_accounts_are_anvils_and_match_the_mnemonic(chain_a):
    assert chain_a.w3.eth.accounts == [a.address for a in ACCOUNTS]
    Account.enable_unaudited_hdwallet_features()
    for acct in ACCOUNTS[:3]:  # derivation is slow; the rest follow the same path
        derived = Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{acct.index}")
        assert (derived.address, "0x" + derived.key.hex().removeprefix("0x")) == (acct.address, acct.private_key)
    for acct in ACCOUNTS:
        assert Account.from_key(acct.private_key).address == acct.address


def test_accounts_are_funded_and_approved(chains):
    for chain in chains:
        for acct in ACCOUNTS:
            assert chain.balance("USDC", acct.address) >= 1_000_000 * 10**6
            assert chain.balance("WETH", acct.address) >= 1_000 * 10**18
            for token in (chain.usdc, chain.weth):
                for spender in (chain.settler.address, chain.bridge.address, chain.pool.address):
                    assert token.functions.allowance(acct.address, spender).call() == MAX
        assert chain.balance("USDC", chain.bridge.address) == 10_000_000 * 10**6
        assert chain.settler.functions.attester().call() == devnet.account("attester").address
        assert chain.bridge.functions.relayer().call() == devnet.account("bridge_relayer").address
        peer = 31338 if chain.chain_id == 31337 else 31337
        assert chain.settler.functions.destinationSettlers(peer).call() == chain.settler.address


def test_start_is_idempotent_and_stop_leaves_nothing(tmp_path, free_ports):
    ports = free_ports(2)
    info = devnet.start(tmp_path, ports, quiet=True)
    try:
        blocks = [devnet.Rpc(c.rpc_url).call("eth_blockNumber") for c in info.chains]
        again = devnet.start(tmp_path, ports, quiet=True)
        assert again == info  # same pids, same addresses: nothing restarted or redeployed
        assert [devnet.Rpc(c.rpc_url).call("eth_blockNumber") for c in info.chains] == blocks
        assert devnet.status(tmp_path).healthy
        with pytest.raises(DevnetError, match="already runs"):
            devnet.start(tmp_path, free_ports(2))
        with devnet.running(tmp_path, ports) as same:  # did not start it, so must not stop it
            assert same == info
        assert devnet.status(tmp_path).healthy
    finally:
        stopped = devnet.stop(tmp_path)
    assert sorted(stopped) == sorted(c.pid for c in info.chains)
    assert not any(is_alive(c.pid) for c in info.chains)
    assert not any(port_in_use("127.0.0.1", p) for p in ports)
    assert not list(tmp_path.glob("*.pid")) and not (tmp_path / "devnet.json").exists()
    assert (tmp_path / "devnet-a.log").exists()
    assert devnet.stop(tmp_path) == [] and not devnet.status(tmp_path).running


def test_restart_after_a_chain_died_redeploys_same_addresses(tmp_path, free_ports):
    ports = free_ports(2)
    with devnet.running(tmp_path, ports, quiet=True) as first:
        os.kill(first.chains[0].pid, signal.SIGKILL)
        assert _wait_until(lambda: not is_alive(first.chains[0].pid))
        assert not devnet.status(tmp_path).healthy
        second = devnet.start(tmp_path, ports, quiet=True)
        assert second.chains[0].pid != first.chains[0].pid
        assert not is_alive(first.chains[1].pid)  # the stale survivor was stopped, not leaked
        assert [c.contracts for c in second.chains] == [c.contracts for c in first.chains]
        assert devnet.status(tmp_path).healthy
        devnet.stop(tmp_path)


def test_port_taken_by_someone_else_is_refused(tmp_path, free_ports):
    ports = free_ports(2)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[1]))
        squatter.listen()
        with pytest.raises(DevnetError, match="already in use"):
            devnet.start(tmp_path, ports, quiet=True)
    assert not list(tmp_path.glob("*.pid")) and not port_in_use("127.0.0.1", ports[0])


def test_missing_anvil_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("ORBITAL_ANVIL", raising=False)
    with pytest.raises(DevnetError, match="npm ci"):
        find_anvil(tmp_path)


def test_cli_up_status_down(tmp_path, free_ports):
    ports = ",".join(map(str, free_ports(2)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "devnet", *args, "--state-dir", str(tmp_path)],
                              capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
                              check=False)

    up = cli("up", "--ports", ports, "--quiet", "--no-solana")  # solana-local: tests/solana
    try:
        assert up.returncode == 0, up.stderr
        pids = [c["pid"] for c in json.loads((tmp_path / "devnet.json").read_text())["chains"]]
        assert_progress(up, ["devnet-a", "devnet-b"])
        assert cli("status").returncode == 0
        again = cli("up", "--ports", ports, "--no-solana")
        assert again.returncode == 0 and "already up" in again.stdout
        assert [line.split("] ", 1)[1] for line in again.stderr.splitlines()] == [
            "already up and healthy; nothing to start"]
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    assert _wait_until(lambda: not any(is_alive(p) for p in pids))
    assert cli("status").returncode == 3


def test_a_deployment_transaction_the_pool_lost_is_sent_again_in_nonce_order(
        tmp_path, free_ports, monkeypatch):
    """The first deployment transaction never reaches anvil (as if its pool lost it), so
    every later one of that sender waits behind the nonce gap: the deploy empties the
    pool and sends the unmined ones again in nonce order; addresses stay the predicted."""
    from eth_utils import keccak
    from devnet.rpc import Rpc
    real = Rpc.call
    lost: list[str] = []

    def call(self, method, *params):
        if method == "eth_sendRawTransaction" and not lost:
            lost.append(params[0])
            return "0x" + keccak(bytes.fromhex(params[0][2:])).hex()   # its hash, as if sent
        return real(self, method, *params)
    monkeypatch.setattr(Rpc, "call", call)
    with devnet.running(tmp_path, free_ports(2), quiet=True) as info:
        assert lost
        expected = predicted_addresses()
        for chain in info.chains:
            assert chain.contracts.settler == expected["settler"]
            code = Rpc(chain.rpc_url).call("eth_getCode", chain.contracts.settler, "latest")
            assert code not in ("0x", "")
