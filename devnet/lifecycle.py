"""Start, check and stop the devnet recorded in a state directory.

Everything a devnet owns lives in its state dir: ``devnet.json`` (what is running), one pidfile
and one log per chain, and a lock file so two ``up``/``down`` never interleave. A state dir is one
devnet; tests use temporary state dirs and free ports to run isolated devnets side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from devnet import anvil, solana_local
from devnet.anvil import DevnetError
from devnet.deploy import deploy
from devnet.info import ChainInfo, DevnetInfo, devnet_json_path, read_info, write_info
from devnet.rpc import Rpc, RpcError
from devnet.solana_keys import DEFAULT_SOLANA_PORT

__all__ = [
    "CHAINS",
    "DEFAULT_HOST",
    "DEFAULT_PORTS",
    "DEFAULT_SOLANA_PORT",
    "ChainStatus",
    "DevnetStatus",
    "load_info",
    "running",
    "start",
    "status",
    "stop",
]

CHAINS = (("devnet-a", 31337), ("devnet-b", 31338))  # SPEC section 4
DEFAULT_PORTS = (8545, 8546)
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class ChainStatus:
    name: str
    pid: int
    alive: bool
    rpc_ok: bool
    deployed: bool
    block_number: int | None


@dataclass(frozen=True)
class DevnetStatus:
    running: bool  # devnet.json exists
    healthy: bool  # every chain alive, answering with its chain id, contracts deployed (solana-local too, if started)
    chains: tuple[ChainStatus, ...]


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "devnet.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pidfile(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.pid"


def load_info(state_dir: str | os.PathLike = "var") -> DevnetInfo | None:
    """The devnet recorded in ``state_dir``, without checking it is still running."""
    return read_info(state_dir)


def _chain_status(chain: ChainInfo) -> ChainStatus:
    alive = anvil.is_anvil(chain.pid)
    rpc_ok = deployed = False
    block = None
    if alive:
        rpc = Rpc(chain.rpc_url, timeout=2.0)
        try:
            chain_id, code, block_hex = rpc.batch([("eth_chainId", []), ("eth_getCode", [chain.contracts.settler, "latest"]),
                                                   ("eth_blockNumber", [])])
            rpc_ok = int(chain_id, 16) == chain.chain_id
            deployed = rpc_ok and code not in (None, "0x", "0x0")
            block = int(block_hex, 16)
        except RpcError:
            pass
    return ChainStatus(chain.name, chain.pid, alive, rpc_ok, deployed, block)


def status(state_dir: str | os.PathLike = "var") -> DevnetStatus:
    info = read_info(state_dir)
    if info is None:
        return DevnetStatus(False, False, ())
    chains = tuple(_chain_status(c) for c in info.chains)
    if info.solana is not None:
        chains += (ChainStatus(solana_local.NAME, info.solana["pid"], *solana_local.check(info.solana)),)
    return DevnetStatus(True, all(c.alive and c.rpc_ok and c.deployed for c in chains), chains)


def _ports_of(info: DevnetInfo) -> tuple[int, ...]:
    return tuple(int(c.rpc_url.rsplit(":", 1)[1]) for c in info.chains)


def _solana_port_of(info: DevnetInfo) -> int | None:
    return int(info.solana["rpc_url"].rsplit(":", 1)[1]) if info.solana is not None else None


def _stop_locked(state_dir: Path, timeout: float) -> list[int]:
    pids: set[int] = set()
    info = read_info(state_dir)
    solana_pids: set[int] = set()
    if info is not None:
        pids.update(c.pid for c in info.chains)
        if info.solana is not None:
            solana_pids.add(info.solana["pid"])
    for name, _ in CHAINS:
        pidfile = _pidfile(state_dir, name)
        with contextlib.suppress(FileNotFoundError, ValueError):
            pids.add(int(pidfile.read_text().strip()))
    with contextlib.suppress(FileNotFoundError, ValueError):
        solana_pids.add(int(_pidfile(state_dir, solana_local.NAME).read_text().strip()))
    stopped = []
    for pid in sorted(pids):
        if anvil.is_anvil(pid):
            anvil.terminate(pid, timeout)
            stopped.append(pid)
    for pid in sorted(solana_pids):
        if solana_local.is_server(pid):
            solana_local.terminate(pid, timeout)
            stopped.append(pid)
    for name in [n for n, _ in CHAINS] + [solana_local.NAME]:
        _pidfile(state_dir, name).unlink(missing_ok=True)
    devnet_json_path(state_dir).unlink(missing_ok=True)
    return stopped


def stop(state_dir: str | os.PathLike = "var", timeout: float = 5.0) -> list[int]:
    """Stop the anvils and solana-local this state dir started (by pidfile); return their pids.

    Harmless when nothing runs. Leaves logs in place; removes pidfiles and devnet.json.
    """
    state_dir = Path(state_dir)
    with _locked(state_dir):
        return _stop_locked(state_dir, timeout)


Progress = Callable[[str], None]


def _silent(_line: str) -> None:
    """The default progress: a library caller (the tests) hears nothing."""


def _start_locked(state_dir: Path, ports: Sequence[int], host: str, quiet: bool, timeout: float,
                  solana_port: int | None = None,
                  progress: Progress = _silent) -> tuple[DevnetInfo, bool]:
    info = read_info(state_dir)
    if info is not None:
        current = status(state_dir)
        if current.healthy:
            if _ports_of(info) != tuple(ports) or _solana_port_of(info) != solana_port:
                running_as = f"ports {_ports_of(info)}" + (f", solana-local on {_solana_port_of(info)}"
                                                           if info.solana is not None else ", without solana-local")
                raise DevnetError(f"a devnet already runs from {state_dir} on {running_as}; "
                                  f"run `python -m devnet down --state-dir {state_dir}` first")
            progress("already up and healthy; nothing to start")
            return info, False
        progress("a devnet recorded here is not healthy; stopping what is left of it")
    _stop_locked(state_dir, timeout=5.0)  # leftovers of a dead or half-started devnet
    for port in [*ports, *([solana_port] if solana_port is not None else [])]:
        if anvil.port_in_use(host, port):
            raise DevnetError(f"{host}:{port} is already in use by a process this state dir did not start")
    pids: dict[str, int] = {}
    try:
        solana_entry: dict | None = None
        if solana_port is not None:
            # Before the anvils, not alongside: its start-up (imports, LiteSVM, seeding) is a CPU burst,
            # and anvil under CPU contention can leave some of a batch of deployment txs unmined.
            log = state_dir / f"{solana_local.NAME}.log"
            progress(f"starting {solana_local.NAME} (LiteSVM) on {host}:{solana_port}")
            pids[solana_local.NAME] = solana_local.spawn(host, solana_port, state_dir, log)
            _pidfile(state_dir, solana_local.NAME).write_text(f"{pids[solana_local.NAME]}\n")
            solana_entry = solana_local.wait_ready(pids[solana_local.NAME], f"http://{host}:{solana_port}", log, timeout)
            progress(f"{solana_local.NAME} up (pid {pids[solana_local.NAME]}), USDC mint seeded")
        for (name, chain_id), port in zip(CHAINS, ports):
            progress(f"starting anvil {name} (chain {chain_id}) on {host}:{port}")
            pids[name] = anvil.spawn(host, port, chain_id, state_dir / f"{name}.log", quiet=quiet)
            _pidfile(state_dir, name).write_text(f"{pids[name]}\n")
        chain_ids = [cid for _, cid in CHAINS]
        results: dict[str, tuple] = {}
        errors: list[BaseException] = []

        def bring_up(name: str, chain_id: int, port: int) -> None:
            try:
                rpc = Rpc(f"http://{host}:{port}")
                anvil.wait_ready(pids[name], rpc, chain_id, state_dir / f"{name}.log", timeout)
                progress(f"{name}: anvil ready (pid {pids[name]})")
                results[name] = deploy(rpc, chain_id, [c for c in chain_ids if c != chain_id], timeout,
                                       progress=lambda line: progress(f"{name}: {line}"))
                progress(f"{name}: deployed, last deploy block {results[name][1]}")
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=bring_up, args=(name, cid, port), daemon=True)
                   for (name, cid), port in zip(CHAINS, ports)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        chains = tuple(
            ChainInfo(name, "evm", cid, f"http://{host}:{port}", pids[name], str(state_dir / f"{name}.log"),
                      results[name][1], results[name][0])
            for (name, cid), port in zip(CHAINS, ports))
        info = DevnetInfo(str(state_dir), chains, solana=solana_entry)
        write_info(info)
        progress(f"wrote {devnet_json_path(state_dir)}")
        return info, True
    except BaseException:
        _stop_locked(state_dir, timeout=5.0)
        raise


def start(state_dir: str | os.PathLike = "var", ports: Sequence[int] = DEFAULT_PORTS, host: str = DEFAULT_HOST, *,
          quiet: bool = False, timeout: float = 60.0, solana: bool = False,
          solana_port: int = DEFAULT_SOLANA_PORT, progress: Progress | None = None) -> DevnetInfo:
    """Start both anvil chains, deploy and seed everything, write devnet.json; return the info.

    Idempotent: if this state dir's devnet is already up and healthy, returns it untouched (no
    redeploy). A dead or half-started one is cleaned up and started afresh. With ``solana``, also
    starts solana-local (LiteSVM RPC on ``solana_port``, USDC mint seeded) and records it as the
    ``solana`` entry of devnet.json. The CLI's ``up`` starts it by default; the library does not.
    ``progress`` is told each step as it starts (``devnet up`` prints them); it may be called
    from the threads that bring the two chains up at once, so it must be thread-safe.
    """
    if len(ports) != len(CHAINS):
        raise DevnetError(f"need {len(CHAINS)} ports, got {list(ports)}")
    state_dir = Path(state_dir)
    with _locked(state_dir):
        return _start_locked(state_dir, ports, host, quiet, timeout, solana_port if solana else None,
                             progress or _silent)[0]


@contextlib.contextmanager
def running(state_dir: str | os.PathLike, ports: Sequence[int] = DEFAULT_PORTS, host: str = DEFAULT_HOST, *,
            quiet: bool = False, timeout: float = 60.0, solana: bool = False,
            solana_port: int = DEFAULT_SOLANA_PORT) -> Iterator[DevnetInfo]:
    """Context manager: a devnet for the block; stopped on exit only if this call started it."""
    state = Path(state_dir)
    with _locked(state):
        info, started = _start_locked(state, ports, host, quiet, timeout, solana_port if solana else None)
    try:
        yield info
    finally:
        if started:
            stop(state)
