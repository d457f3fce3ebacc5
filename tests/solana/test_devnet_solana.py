"""solana-local as part of the devnet: `python -m devnet up` starts it (pidfile, devnet.json
`solana` entry), `status` checks it, `up` is idempotent, `down` leaves no process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from solders.keypair import Keypair

import devnet
from devnet import free_ports
from devnet.anvil import DevnetError, is_alive
from devnet.solana_keys import GENESIS_HASH, SOLANA_ACCOUNTS, mint_keypair
from tests._devnet import assert_progress
from tests.solana.conftest import SyncClient, call

REPO = Path(__file__).resolve().parents[2]




def gone(pids: list[int], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(is_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_cli_up_status_down_with_solana(tmp_path):
    evm_a, evm_b, sol = free_ports(3)
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "devnet", *args, "--state-dir", str(tmp_path)],
                              capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=False)

    up = cli("up", "--ports", f"{evm_a},{evm_b}", "--solana-port", str(sol), "--quiet")
    pids: list[int] = []
    try:
        assert up.returncode == 0, up.stderr
        assert_progress(up, ["devnet-a", "devnet-b"], first=(   # solana-local before the anvils
            f"starting solana-local (LiteSVM) on 127.0.0.1:{sol}",
            f"solana-local up (pid {json.loads((tmp_path / 'devnet.json').read_text())['solana']['pid']}), "
            "USDC mint seeded"))
        doc = json.loads((tmp_path / "devnet.json").read_text())
        entry = doc["solana"]
        pids = [c["pid"] for c in doc["chains"]] + [entry["pid"]]
        assert (tmp_path / "solana-local.pid").read_text().strip() == str(entry["pid"])
        assert entry["rpc_url"] == f"http://127.0.0.1:{sol}" and entry["kind"] == "solana"
        assert entry["tokens"]["USDC"] == {**entry["tokens"]["USDC"], "mint": str(mint_keypair().pubkey()), "decimals": 6}
        assert [a["pubkey"] for a in entry["accounts"]] == [str(a.pubkey) for a in SOLANA_ACCOUNTS]
        assert call(entry["rpc_url"], "getGenesisHash")["result"] == GENESIS_HASH
        client = SyncClient(entry["rpc_url"])
        try:
            user = entry["accounts"][3]
            assert str(Keypair.from_base58_string(user["secret_key"]).pubkey()) == user["pubkey"]
            balance = client.get_token_account_balance(SOLANA_ACCOUNTS[3].usdc_account).value
            assert (balance.amount, user["usdc_account"]) == (str(1_000_000 * 10**6), str(SOLANA_ACCOUNTS[3].usdc_account))
        finally:
            client.close()
        status = cli("status", "--json")
        assert status.returncode == 0, status.stdout
        assert [c["name"] for c in json.loads(status.stdout)["chains"]][-1] == "solana-local"
        again = cli("up", "--ports", f"{evm_a},{evm_b}", "--solana-port", str(sol))
        assert again.returncode == 0 and "already up" in again.stdout
        assert json.loads((tmp_path / "devnet.json").read_text())["solana"]["pid"] == entry["pid"]
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    assert len(pids) == 3 and gone(pids)
    assert not (tmp_path / "solana-local.pid").exists()
    assert cli("status").returncode == 3


def test_library_start_with_solana_restarts_a_dead_server(tmp_path):
    ports = free_ports(3)
    with devnet.running(tmp_path, ports=ports[:2], quiet=True, solana=True, solana_port=ports[2]) as info:
        assert info.solana is not None and devnet.status(tmp_path).healthy
        with pytest.raises(DevnetError, match="solana-local"):  # asked for a different devnet than runs
            devnet.start(tmp_path, ports[:2], solana=False)
        old_pid = info.solana["pid"]
        os.kill(old_pid, 9)  # the server this test started dies
        assert gone([old_pid])
        report = devnet.status(tmp_path)
        assert not report.healthy and not report.chains[-1].alive
        fresh = devnet.start(tmp_path, ports[:2], quiet=True, solana=True, solana_port=ports[2])
        assert fresh.solana["pid"] != old_pid and devnet.status(tmp_path).healthy
        pids = [c.pid for c in fresh.chains] + [fresh.solana["pid"]]
    assert gone(pids)  # running() started the devnet, so it stopped it, restarted server included
    assert devnet.stop(tmp_path) == []
