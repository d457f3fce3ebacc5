"""SQLite serves one node: a second node on the same SQLite file is refused at start, with
the holder named, and the lock dies with its holder (a clean stop here; ``kill -9`` of an
``orbital run`` process in test_process.py)."""

from __future__ import annotations

import os
import urllib.request

import pytest

from runtime import ConfigError
from runtime.node import Node
from runtime.store import StoreStatus

from .conftest import make_app


def test_second_node_on_one_sqlite_file_is_refused_until_the_first_stops(nodes):
    path = nodes.config(name="node-1")               # SQLite in tmp_path
    first = nodes.start(path, make_app)
    assert first.instance.startswith("node-1-") and first.instance != "node-1"
    body = urllib.request.urlopen(f"http://127.0.0.1:{first.metrics_port}/metrics",
                                  timeout=5).read().decode()
    assert f'orbital_node_info{{instance="{first.instance}",node="node-1"}} 1.0' in body

    second = Node(path, make_app())
    with pytest.raises(ConfigError) as refused:
        second.start()
    assert refused.value.key == "database.url"
    assert (f"is in use by node {first.instance} (pid {os.getpid()}); SQLite serves one "
            "node: use PostgreSQL for several") in str(refused.value)
    assert second.grpc is None, "refused before it served anything"
    assert first.registry.ask("store", StoreStatus(), timeout=5)   # the first serves on

    nodes.stop(first)                                # releases the lock
    again = nodes.start(path, make_app)
    assert again.instance.startswith("node-1-") and again.instance != first.instance
