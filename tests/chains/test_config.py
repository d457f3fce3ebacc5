"""The ``chains:`` depths: left out, ``confirmations`` and ``settlement_depth`` come from
the chain id's defaults (``DEPTH_DEFAULTS``); set, they win, 0 included; after the load
both are plain ints for every reader; a chain id without defaults gets Ethereum's and a
warning. No devnet: the config is only loaded."""

from __future__ import annotations

import logging

import pytest

from chains.evm.config import DEPTH_DEFAULTS, ChainConfig, default_depths
from node import new_app
from runtime import ConfigError
from runtime.config import load_config

BRIDGE = "{bridge: '0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9'}"


def _chains(tmp_path, body: str) -> dict[str, ChainConfig]:
    path = tmp_path / "supervisor.yaml"
    path.write_text("chains:\n" + body)
    app = new_app()
    app.section("chains", dict[str, ChainConfig])
    return load_config(str(path), app, {}).section("chains", dict)


def _chain(name: str, chain_id: int, **opts) -> str:
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return (f"  {name}: {{chain_id: {chain_id}, rpc: [http://127.0.0.1:1], "
            f"contracts: {BRIDGE}{extra}}}\n")


def test_depths_left_out_come_from_the_chain_id(tmp_path):
    chains = _chains(tmp_path, _chain("eth", 1) + _chain("base", 8453) + _chain("dev", 31337)
                     + _chain("dev2", 31338))
    got = {n: (c.confirmations, c.settlement_depth) for n, c in chains.items()}
    assert got == {"eth": DEPTH_DEFAULTS[1], "base": DEPTH_DEFAULTS[8453],
                   "dev": (0, 0), "dev2": (0, 0)}
    assert all(type(v) is int for pair in got.values() for v in pair)
    # money waits longer than indexing on every listed chain
    assert all(s >= c for c, s in DEPTH_DEFAULTS.values())


def test_explicit_depths_win_zero_included(tmp_path):
    chains = _chains(tmp_path, _chain("eth", 1, confirmations=0, settlement_depth=5)
                     + _chain("dev", 31337, settlement_depth=3)
                     + _chain("arb", 42161, confirmations=7))
    assert (chains["eth"].confirmations, chains["eth"].settlement_depth) == (0, 5)
    assert (chains["dev"].confirmations, chains["dev"].settlement_depth) == (0, 3)
    assert (chains["arb"].confirmations, chains["arb"].settlement_depth) \
        == (7, DEPTH_DEFAULTS[42161][1])


def test_an_unknown_chain_id_gets_ethereums_depths_and_a_warning(tmp_path, caplog):
    assert default_depths(999_999) == DEPTH_DEFAULTS[1]
    with caplog.at_level(logging.WARNING, logger="orbital.chains"):
        chains = _chains(tmp_path, _chain("new", 999_999))
    assert (chains["new"].confirmations, chains["new"].settlement_depth) == DEPTH_DEFAULTS[1]
    assert any("999999" in r.getMessage() and "settlement_depth" in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="orbital.chains"):
        _chains(tmp_path, _chain("new", 999_999, confirmations=4, settlement_depth=40))
    assert not caplog.records                       # both set: nothing guessed


def test_a_negative_depth_is_refused(tmp_path):
    with pytest.raises(ConfigError) as exc:
        _chains(tmp_path, _chain("dev", 31337, settlement_depth=-1))
    assert "settlement_depth" in str(exc.value)


def test_addresses_include_permit2_on_every_chain_with_a_settler(tmp_path):
    """The watcher indexes the logs of ``contracts.addresses()``: Permit2's (canonical
    address) too wherever a settler is configured, so its UnorderedNonceInvalidation can
    cancel Permit2-form orders; a bridge-only chain has no orders to cancel."""
    from protocol import PERMIT2_ADDRESS
    settler = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
    bridge = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"
    chains = _chains(tmp_path,
                     f"  a: {{chain_id: 31337, rpc: [http://127.0.0.1:1], "
                     f"contracts: {{settler: '{settler}', bridge: '{bridge}'}}}}\n"
                     f"  b: {{chain_id: 31338, rpc: [http://127.0.0.1:1], "
                     f"contracts: {{settler: '{settler}'}}}}\n"
                     + _chain("c", 1))
    assert chains["a"].contracts.addresses() == [settler, bridge, PERMIT2_ADDRESS]
    assert chains["b"].contracts.addresses() == [settler, PERMIT2_ADDRESS]
    assert chains["c"].contracts.addresses() == [bridge]
