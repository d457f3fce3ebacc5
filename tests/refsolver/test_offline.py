"""The solver with no node to talk to: it keeps retrying with backoff and stops promptly."""

from __future__ import annotations

import time

from devnet import free_ports
from tests._devnet import offline_devnet

from .conftest import wait_until


def test_retries_while_the_node_is_down_and_stops_promptly(solver_factory, tmp_path):
    [port] = free_ports(1)
    # no node and no chain: the solver reads the devnet's devnet.json, never a chain
    solver = solver_factory(f"127.0.0.1:{port}", devnet=offline_devnet(tmp_path / "devnet"))
    wait_until(lambda: solver.sessions >= 3, what="three connection attempts")
    assert not solver.connected.is_set() and solver.error is None
    started = time.monotonic()
    solver.stop()
    assert time.monotonic() - started < 2.0
    assert not solver._thread.is_alive()
