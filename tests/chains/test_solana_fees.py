"""The cost of a fill on a Solana chain (``chains.solana.fees``): the pure parts tabled
(percentile, priority fee rounding, rent due for each state of the recipient's token
account), and :func:`fill_cost` against a real solana-local: the percentile of the recent
prioritization fees over a full 150-slot window, the floor, the rent of a missing or
pre-funded token account, an RPC without ``getRecentPrioritizationFees`` (the floor, said
so), and bad addresses named by field."""

from __future__ import annotations

import threading

import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import transfer_checked
from spl.token.models import TransferCheckedParams

from chains.solana import (FillCost, SolanaFeeConfig, SolanaRpc, fill_cost, percentile,
                           priority_fee, rent_due)
from devnet.solana_keys import SOLANA_ACCOUNTS, mint_keypair
from devnet.solana_rpc import Methods, SolanaRpcServer, serve
from protocol.solana import TOKEN_PROGRAM, associated_token_address

MINT = str(mint_keypair().pubkey())
A, B = SOLANA_ACCOUNTS[3], SOLANA_ACCOUNTS[4]
RENT_165 = 2_039_280           # rent exemption of a token account (165 bytes)


@pytest.mark.parametrize("values, pct, expected", [
    ([], 75, 0),
    ([7], 0, 7), ([7], 100, 7),
    ([0, 0, 0, 100], 75, 0),            # 3 of 4 at or below 0
    ([0, 0, 0, 100], 76, 100),
    ([5, 1, 4, 2, 3], 50, 3),           # unsorted input
    (list(range(1, 101)), 75, 75), (list(range(1, 101)), 99.5, 100),
    ([10, 20], 0, 10), ([10, 20], 50, 10), ([10, 20], 51, 20),
])
def test_percentile_nearest_rank(values, pct, expected):
    assert percentile(values, pct) == expected


def test_percentile_out_of_range():
    with pytest.raises(ValueError, match="0-100"):
        percentile([1], 101)


@pytest.mark.parametrize("price, units, lamports", [
    (0, 60_000, 0), (1, 60_000, 1),             # 0.06 lamports: rounded up to 1
    (1_000_000, 60_000, 60_000), (11_300, 60_000, 678), (16_667, 60_000, 1_001),
    (10**12, 1_400_000, 1_400_000_000_000),
])
def test_priority_fee_rounds_up(price, units, lamports):
    assert priority_fee(price, units) == lamports


def _account(owner: str, lamports: int, space: int | None) -> dict:
    acct = {"owner": owner, "lamports": lamports, "data": ["A" * 220 + "==", "base64"]}
    if space is not None:
        acct["space"] = space
    return acct


@pytest.mark.parametrize("account, due", [
    (None, RENT_165),                                                # not there: created
    (_account(TOKEN_PROGRAM, RENT_165, 165), 0),                     # a token account
    (_account(TOKEN_PROGRAM, RENT_165, None), 0),                    # old node: no space
    (_account("11111111111111111111111111111111", 890_880, 0), RENT_165 - 890_880),  # SOL only
    (_account("11111111111111111111111111111111", 5 * RENT_165, 0), 0),
    (_account("BPFLoaderUpgradeab1e11111111111111111111111", 1, 165), RENT_165 - 1),
])
def test_rent_due(account, due):
    assert rent_due(account, RENT_165) == due


@pytest.fixture
def local():
    srv = serve("127.0.0.1", 0, slot_ms=0)      # a block per transaction only
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def rpc(local):
    client = SolanaRpc([local.url], timeout=5)
    yield client
    client.close()


def _priced_transfer(local, price: int) -> None:
    """A USDC transfer A -> B at ``price`` micro-lamports per CU: it write-locks B's token
    account, where a fill to B competes."""
    local.chain.send_instructions([
        set_compute_unit_limit(60_000), set_compute_unit_price(price),
        transfer_checked(TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID, source=A.usdc_account, mint=mint_keypair().pubkey(),
            dest=B.usdc_account, owner=A.pubkey, amount=1, decimals=6))], A.keypair, [])


def test_fill_to_an_existing_account_at_p75_of_the_window(local, rpc):
    for i in range(1, 151):                     # the whole 150-slot window: 100..15000
        _priced_transfer(local, 100 * i)
    cfg = SolanaFeeConfig(percentile=75, fill_compute_units=60_000)
    cost = fill_cost(rpc, "sol", cfg, mint=MINT, recipient=str(B.pubkey))
    assert cost == FillCost("sol", str(B.usdc_account), 5_000, 11_300, 60_000, 678, 0,
                            "getRecentPrioritizationFees: p75 of 150 slots = 11300")
    assert cost.lamports == 5_678
    floor = fill_cost(rpc, "sol", SolanaFeeConfig(percentile=75, priority_fee_floor=20_000),
                      mint=MINT, recipient=str(B.pubkey))
    assert (floor.compute_unit_price, floor.priority_fee) == (20_000, 1_200)
    assert floor.price_source.endswith("raised to the floor 20000")
    two = fill_cost(rpc, "sol", SolanaFeeConfig(percentile=50, signatures=2),
                    mint=MINT, recipient=str(B.pubkey), writes=[str(A.usdc_account)])
    assert (two.base_fee, two.compute_unit_price) == (10_000, 7_500)


def test_rent_of_a_missing_or_prefunded_token_account(local, rpc):
    new_wallet = Keypair().pubkey()
    cost = fill_cost(rpc, "sol", SolanaFeeConfig(), mint=MINT, recipient=str(new_wallet))
    assert cost.recipient_token_account == associated_token_address(str(new_wallet), MINT)
    assert (cost.rent, cost.compute_unit_price, cost.lamports) == (RENT_165, 0, 5_000 + RENT_165)
    # Someone sends SOL to the token account's address before the fill: still to create,
    # only the rest up to rent exemption is due.
    local.chain.airdrop(Pubkey.from_string(cost.recipient_token_account), 1_000_000)
    again = fill_cost(rpc, "sol", SolanaFeeConfig(), mint=MINT, recipient=str(new_wallet))
    assert again.rent == RENT_165 - 1_000_000


class _OldNode(Methods):
    """A node that predates getRecentPrioritizationFees: the method is not there."""

    getRecentPrioritizationFees = None  # type: ignore[assignment]


def test_rpc_without_the_method_uses_the_floor_and_says_so():
    server = SolanaRpcServer("127.0.0.1", 0, slot_ms=0)
    server.methods = _OldNode(server.chain)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rpc = SolanaRpc([server.url], timeout=5)
    try:
        assert rpc.prioritization_fees([str(B.usdc_account)]) is None
        cost = fill_cost(rpc, "sol", SolanaFeeConfig(priority_fee_floor=5_000),
                         mint=MINT, recipient=str(B.pubkey))
        assert (cost.compute_unit_price, cost.priority_fee, cost.rent) == (5_000, 300, 0)
        assert cost.price_source == ("floor: the RPC has no getRecentPrioritizationFees "
                                     "(5000 micro-lamports/CU)")
    finally:
        rpc.close()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kwargs, message", [
    ({"mint": "0x" + "00" * 20, "recipient": str(B.pubkey)},
     "mint: .* is a 0x .EVM. address; this is a Solana chain"),
    ({"mint": MINT, "recipient": "not-base58!"}, "recipient: .* is not a Solana public key"),
    ({"mint": MINT, "recipient": ""}, "recipient: .* is not a Solana public key"),
    ({"mint": MINT, "recipient": str(B.pubkey), "writes": ["x"]}, r"writes\[0\]: .* not a Solana"),
    ({"mint": MINT, "recipient": str(B.pubkey),
      "writes": [str(Keypair().pubkey()) for _ in range(128)]}, "writes: at most 127"),
])
def test_bad_addresses_are_named(rpc, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fill_cost(rpc, "sol", SolanaFeeConfig(), **kwargs)
