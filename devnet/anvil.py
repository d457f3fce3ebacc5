"""Finding, starting and stopping anvil processes.

Processes are started in their own session (process group) so that stopping one also stops the
node wrapper's child when only node_modules/.bin/anvil (a node script) is available, and they
are only ever stopped by the pid this module recorded, after checking the pid is still anvil.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devnet.accounts import DEFAULT_MNEMONIC
from devnet.rpc import Rpc, RpcError

__all__ = [
    "REPO_ROOT",
    "DevnetError",
    "find_anvil",
    "is_alive",
    "is_anvil",
    "port_in_use",
    "spawn",
    "terminate",
    "wait_ready",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
HARDFORK = "prague"
_CHILDREN: dict[int, subprocess.Popen] = {}  # started by this process, reaped on terminate


class DevnetError(RuntimeError):
    """The devnet cannot be started, checked or stopped; the message says what to do."""


def _platform_package() -> str:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(), "")
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    return f"anvil-{system}-{arch}"


def find_anvil(root: Path = REPO_ROOT) -> list[str]:
    """Command prefix that runs anvil: $ORBITAL_ANVIL, else the npm package's native binary,
    else its node wrapper. Raises DevnetError telling how to install it."""
    override = os.environ.get("ORBITAL_ANVIL")
    if override:
        return [override]
    native = root / "node_modules" / "@foundry-rs" / _platform_package() / "bin" / "anvil"
    if native.is_file() and os.access(native, os.X_OK):
        return [str(native)]
    wrapper = root / "node_modules" / ".bin" / "anvil"
    if wrapper.exists():
        return [str(wrapper)]
    raise DevnetError(f"anvil not found under {root / 'node_modules'}: run `make devnet` or `npm ci`")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def spawn(host: str, port: int, chain_id: int, log_path: Path, *, quiet: bool = False,
          extra: Sequence[str] = ()) -> int:
    """Start anvil in its own session, logging to ``log_path``; return its pid. ``extra``:
    more anvil options (``--load-state FILE`` for a replica of a dumped chain)."""
    argv = find_anvil() + [
        "--host", host, "--port", str(port), "--chain-id", str(chain_id),
        "--accounts", "10", "--mnemonic", DEFAULT_MNEMONIC, "--hardfork", HARDFORK,
        *extra,
    ]
    if quiet:
        argv.append("--quiet")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=str(log_path.parent))
    _CHILDREN[proc.pid] = proc
    return proc.pid


def wait_ready(pid: int, rpc: Rpc, chain_id: int, log_path: Path, timeout: float) -> None:
    """Poll eth_chainId until anvil answers with ``chain_id``; fail fast if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = int(rpc.call("eth_chainId"), 16)
        except RpcError:
            got = None
        if got == chain_id:
            return
        if got is not None:
            raise DevnetError(f"{rpc.url} answers with chain id {got}, expected {chain_id}")
        if not is_alive(pid):
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise DevnetError(f"anvil (pid {pid}) exited during start; log {log_path}:\n{tail}")
        if time.monotonic() > deadline:
            raise DevnetError(f"anvil (pid {pid}) not answering on {rpc.url} after {timeout:.0f}s; see {log_path}")
        time.sleep(0.02)


def is_alive(pid: int) -> bool:
    """True if ``pid`` is a running (not zombie) process."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): trust kill(0)


def is_anvil(pid: int, marker: str = "anvil") -> bool:
    """Whether ``pid`` still runs anvil (or whatever has ``marker`` in its command line, e.g. the
    solana-local server), so a recycled pid is never signalled."""
    if not is_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return marker.encode() in fh.read()
    except OSError:
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, check=False)
        return marker in out.stdout


def terminate(pid: int, timeout: float = 5.0, marker: str = "anvil") -> None:
    """SIGTERM the process group anvil (or ``marker``) leads, then SIGKILL after ``timeout``; wait until gone."""
    if not is_anvil(pid, marker):
        _CHILDREN.pop(pid, None)
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not is_alive(pid):
            break
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(timeout=timeout)
    if is_alive(pid):
        raise DevnetError(f"{marker} (pid {pid}) did not exit")
