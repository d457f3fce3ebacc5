"""Bids from inventory on a real devnet: minimum + improvement, capped by what the solver can
deliver on the destination chain, with open bids and awards reserved against it."""

from __future__ import annotations

from solver import Inventory, load_config

ONE_USDC = 10**6
KEY_ENV = "ORBITAL_SOLVER_KEY"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _inventory(devnet_info, solver_chains, bps=10, tokens=None, clock=None):
    cfg = load_config(devnet_dir=devnet_info.state_dir, improvement_bps=bps, tokens=tokens,
                      env={KEY_ENV: devnet_info.account("solver").private_key})
    return Inventory(cfg, solver_chains, **({"clock": clock} if clock else {}))


def _ids(devnet_info):
    a, b = devnet_info.chains
    return a.chain_id, b.chain_id, b.contracts.tokens["USDC"].address


def test_bid_is_minimum_plus_improvement(devnet_info, solver_chains):
    a, b, usdc_b = _ids(devnet_info)
    inv = _inventory(devnet_info, solver_chains, bps=25)
    decision = inv.decide("0x01", a, b, usdc_b, 100 * ONE_USDC)
    assert decision.amount == 100 * ONE_USDC + 250_000
    assert inv.held(b, usdc_b) == decision.amount
    assert inv.decide("0x01", a, b, usdc_b, 100 * ONE_USDC).reason == "already bid"


def test_bid_is_capped_by_balance_and_skips_what_it_cannot_cover(devnet_info, solver_chains):
    a, b, usdc_b = _ids(devnet_info)
    have = solver_chains[b].balance_of(usdc_b)
    inv = _inventory(devnet_info, solver_chains, bps=100)
    assert inv.decide("0x01", a, b, usdc_b, have - 10).amount == have          # capped, not target
    inv.release("0x01")
    skip = inv.decide("0x02", a, b, usdc_b, have + 1)
    assert skip.amount is None and skip.reason.startswith("inventory:")
    assert inv.held(b, usdc_b) == 0


def test_open_bids_reserve_inventory(devnet_info, solver_chains):
    a, b, usdc_b = _ids(devnet_info)
    have = solver_chains[b].balance_of(usdc_b)
    clock = Clock()
    inv = _inventory(devnet_info, solver_chains, bps=0, clock=clock)
    half = have // 2 + 1
    assert inv.decide("0x01", a, b, usdc_b, half).amount == half
    assert inv.decide("0x02", a, b, usdc_b, half).amount is None       # would over-commit
    inv.release("0x01")                                                   # lost that auction
    assert inv.decide("0x02", a, b, usdc_b, half).amount == half
    inv.awarded("0x02", b, usdc_b, half)
    clock.now += 3600                                                     # an award is held until done
    assert inv.decide("0x03", a, b, usdc_b, half).amount is None
    inv.release("0x02")
    assert inv.decide("0x03", a, b, usdc_b, half).amount == half
    clock.now += 3600                                                     # a bid never answered expires
    assert inv.held(b, usdc_b) == 0


def test_passes_on_unserved_chains_and_tokens(devnet_info, solver_chains):
    a, b, usdc_b = _ids(devnet_info)
    weth_b = devnet_info.chains[1].contracts.tokens["WETH"].address
    inv = _inventory(devnet_info, solver_chains, tokens=["USDC"])
    assert inv.decide("0x01", a, 1, usdc_b, 1).reason == "chain not served"
    assert inv.decide("0x02", a, b, weth_b, 1).reason == "output token not served"
    assert inv.decide("0x03", a, b, "0x" + "12" * 20, 1).reason == "output token not served"
    assert inv.decide("0x04", a, b, "not-an-address", 1).reason == "output token not served"
    assert inv.decide("0x05", a, b, usdc_b, 0).reason == "no minimum output"
