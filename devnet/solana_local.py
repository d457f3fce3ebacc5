"""Starting, checking and stopping the solana-local process (``python -m devnet.solana_rpc``).

Managed like the anvils: own session, pid in ``<state>/solana-local.pid``, log in
``<state>/solana-local.log``, and only ever signalled after checking the pid still runs the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devnet import anvil
from devnet.anvil import REPO_ROOT, DevnetError
from devnet.rpc import Rpc, RpcError
from devnet.solana_keys import CHAIN_NAME, GENESIS_HASH, mint_keypair, solana_entry

__all__ = ["MARKER", "NAME", "check", "is_server", "spawn", "terminate", "wait_ready"]

NAME = CHAIN_NAME
MARKER = "devnet.solana_rpc"  # in the server's command line; how a pid is recognised as ours


def spawn(host: str, port: int, state_dir: Path, log_path: Path) -> int:
    """Start the server in its own session, logging to ``log_path``; return its pid."""
    argv = [sys.executable, "-m", MARKER, "--host", host, "--port", str(port), "--state-dir", str(state_dir.resolve())]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=str(REPO_ROOT), env=env)
    anvil._CHILDREN[proc.pid] = proc  # noqa: SLF001 - shared registry of children to reap
    return proc.pid


def is_server(pid: int) -> bool:
    return anvil.is_anvil(pid, MARKER)


def terminate(pid: int, timeout: float = 5.0) -> None:
    anvil.terminate(pid, timeout, MARKER)


def wait_ready(pid: int, rpc_url: str, log_path: Path, timeout: float) -> dict[str, Any]:
    """Poll getHealth until the server (seeded before it listens) answers; return the devnet.json entry."""
    rpc = Rpc(rpc_url, timeout=2.0)
    deadline = time.monotonic() + timeout
    while True:
        try:
            health, genesis = rpc.batch([("getHealth", []), ("getGenesisHash", [])])
        except RpcError:
            health = genesis = None
        if health == "ok":
            if genesis != GENESIS_HASH:
                raise DevnetError(f"{rpc_url} answers, but is not solana-local (genesis hash {genesis})")
            return solana_entry(rpc_url, pid, str(log_path))
        if not anvil.is_alive(pid):
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise DevnetError(f"{NAME} (pid {pid}) exited during start; log {log_path}:\n{tail}")
        if time.monotonic() > deadline:
            raise DevnetError(f"{NAME} (pid {pid}) not answering on {rpc_url} after {timeout:.0f}s; see {log_path}")
        time.sleep(0.02)


def check(entry: dict[str, Any]) -> tuple[bool, bool, bool, int | None]:
    """(alive, rpc_ok, deployed, slot) of the server a devnet.json ``solana`` entry describes."""
    alive = is_server(entry["pid"])
    rpc_ok = deployed = False
    slot = None
    if alive:
        try:
            health, genesis, mint, slot = Rpc(entry["rpc_url"], timeout=2.0).batch([
                ("getHealth", []), ("getGenesisHash", []),
                ("getAccountInfo", [str(mint_keypair().pubkey()), {"encoding": "base64"}]), ("getSlot", [])])
            rpc_ok = health == "ok" and genesis == GENESIS_HASH
            deployed = rpc_ok and mint.get("value") is not None
        except (RpcError, AttributeError):
            pass
    return alive, rpc_ok, deployed, slot
