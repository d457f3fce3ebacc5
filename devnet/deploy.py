"""Deterministic deployment of Orbital's contracts onto one fresh anvil chain.

Why deterministic: every start deploys from account 0 in the same order, so contract addresses
(CREATE addresses of the deployer's nonces) are the same on every start and on every chain, and
configs, docs and tests can rely on them. Why batched and locally signed: two JSON-RPC batches per
chain (deployer phase, then approvals from all accounts) keep ``devnet up`` around a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from devnet.accounts import ACCOUNTS, account
from devnet.anvil import DevnetError
from devnet.info import ChainContracts, FeedInfo, PoolInfo, TokenInfo
from devnet.rpc import Rpc, RpcError
from devnet.solana_keys import CHAIN_ID as SOLANA_CHAIN_ID
from protocol.accounts import account_to_bytes32
from protocol.artifacts import load_artifact
from protocol.erc7683 import PERMIT2_ADDRESS
from protocol.solana import MEMO_PROGRAM

__all__ = ["FEEDS", "MAX_UINT256", "POOLS", "TOKENS", "create_address", "deploy", "predicted_addresses"]

MAX_UINT256 = 2**256 - 1
# (symbol, name, decimals, whole units minted to each account, to the bridge, into the pool)
TOKENS = (
    ("USDC", "USD Coin", 6, 1_000_000, 10_000_000, 3_000_000),
    ("WETH", "Wrapped Ether", 18, 1_000, 10_000, 1_000),
)
# (pair, decimals, initial answer in whole units)
FEEDS = (("WETH/USD", 8, 3_000), ("USDC/USD", 8, 1))
POOLS = (("USDC/WETH", "USDC", "WETH"),)
POOL_FEE_BPS = 30
DEPLOY_GAS = 5_000_000
CALL_GAS = 300_000

# Deployer nonce -> contract, the fixed order every start follows.
_ORDER = ("USDC", "WETH", "settler", "bridge", "feed:WETH/USD", "feed:USDC/USD", "pool:USDC/WETH")


def create_address(sender: str, nonce: int) -> str:
    """CREATE address: keccak256(rlp([sender, nonce]))[12:] (RLP spelled out for this one shape)."""
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes([0x80 + len(raw)]) + raw
    payload = b"\x94" + bytes.fromhex(sender[2:]) + encoded_nonce
    return to_checksum_address(keccak(bytes([0xC0 + len(payload)]) + payload)[12:])


def predicted_addresses(deployer: str = ACCOUNTS[0].address) -> dict[str, str]:
    """Address of every devnet contract, by key ("USDC", "settler", "feed:WETH/USD", ...)."""
    return {key: create_address(deployer, nonce) for nonce, key in enumerate(_ORDER)}


@dataclass(frozen=True)
class _Tx:
    sender: int  # account index
    to: str | None
    data: bytes
    label: str
    expect_address: str | None = None


def _calldata(signature: str, types: Sequence[str], args: Sequence[Any]) -> bytes:
    return keccak(text=signature)[:4] + abi_encode(list(types), list(args))


def _create(name: str, types: Sequence[str], args: Sequence[Any], label: str, address: str) -> _Tx:
    return _Tx(0, None, load_artifact(name).bytecode + abi_encode(list(types), list(args)), label, address)


def _deployer_phase(addr: dict[str, str], peer_chain_ids: Sequence[int]) -> list[_Tx]:
    attester, relayer = account("attester").address, account("bridge_relayer").address
    txs = [_create("TestToken", ["string", "string", "uint8"], [name, sym, dec], sym, addr[sym])
           for sym, name, dec, *_ in TOKENS]
    txs.append(_create("OrbitalSettler", ["address"], [attester], "settler", addr["settler"]))
    txs.append(_create("Bridge", ["address"], [relayer], "bridge", addr["bridge"]))
    txs += [_create("PriceFeed", ["uint8", "string", "int256"], [dec, pair.replace("/", " / "), answer * 10**dec],
                    f"feed:{pair}", addr[f"feed:{pair}"]) for pair, dec, answer in FEEDS]
    txs += [_create("ConstantProductPool", ["address", "address"], [addr[t0], addr[t1]], f"pool:{pair}",
                    addr[f"pool:{pair}"]) for pair, t0, t1 in POOLS]
    txs += [_Tx(0, addr["settler"], _calldata("setDestinationSettler(uint256,address)", ["uint256", "address"],
                                              [cid, addr["settler"]]), f"settler.setDestinationSettler({cid})")
            for cid in peer_chain_ids]
    # solana-local as the 32-byte destination of OrbitalOrder32 orders, on every start (whether
    # or not solana-local runs: addresses and nonces stay the same either way, and an order to
    # it that nobody fills is refunded like any other).
    txs.append(_Tx(0, addr["settler"], _calldata("setDestination32(uint256,bytes32)", ["uint256", "bytes32"],
                                                 [SOLANA_CHAIN_ID, account_to_bytes32(MEMO_PROGRAM)]),
                   f"settler.setDestination32({SOLANA_CHAIN_ID})"))
    mint = "mint(address,uint256)"
    for sym, _, dec, per_account, bridge_liq, _pool in TOKENS:
        unit = 10**dec
        txs += [_Tx(0, addr[sym], _calldata(mint, ["address", "uint256"], [a.address, per_account * unit]),
                    f"{sym}.mint({a.index})") for a in ACCOUNTS]
        txs.append(_Tx(0, addr[sym], _calldata(mint, ["address", "uint256"], [addr["bridge"], bridge_liq * unit]),
                       f"{sym}.mint(bridge)"))
    for pair, t0, t1 in POOLS:
        amounts = []
        for sym in (t0, t1):
            _, _, dec, _, _, pool_liq = next(t for t in TOKENS if t[0] == sym)
            amounts.append(pool_liq * 10**dec)
            txs.append(_Tx(0, addr[sym], _calldata(mint, ["address", "uint256"], [ACCOUNTS[0].address, amounts[-1]]),
                           f"{sym}.mint(pool seed)"))
            txs.append(_Tx(0, addr[sym], _calldata("approve(address,uint256)", ["address", "uint256"],
                                                   [addr[f"pool:{pair}"], amounts[-1]]), f"{sym}.approve(pool)"))
        txs.append(_Tx(0, addr[f"pool:{pair}"], _calldata("addLiquidity(uint256,uint256)", ["uint256", "uint256"],
                                                          amounts), f"pool:{pair}.addLiquidity"))
    return txs


def _approval_phase(addr: dict[str, str]) -> list[_Tx]:
    """Every account approves the settler, the bridge and the pools for every token, unlimited."""
    spenders = [addr["settler"], addr["bridge"]] + [addr[f"pool:{p}"] for p, _, _ in POOLS]
    return [_Tx(a.index, addr[sym], _calldata("approve(address,uint256)", ["address", "uint256"], [spender, MAX_UINT256]),
                f"{sym}.approve({spender}) by {a.index}")
            for a in ACCOUNTS for sym, *_ in TOKENS for spender in spenders]


def _send(rpc: Rpc, chain_id: int, txs: list[_Tx], gas_price: int, timeout: float) -> int:
    """Sign with per-sender nonces, send as one batch, wait for all receipts; return last block."""
    senders = sorted({t.sender for t in txs})
    counts = rpc.batch([("eth_getTransactionCount", [ACCOUNTS[s].address, "pending"]) for s in senders])
    nonces = {s: int(c, 16) for s, c in zip(senders, counts)}
    raws = []
    for tx in txs:
        fields = {"nonce": nonces[tx.sender], "gasPrice": gas_price, "gas": DEPLOY_GAS if tx.to is None else CALL_GAS,
                  "value": 0, "data": tx.data, "chainId": chain_id}
        if tx.to is not None:
            fields["to"] = tx.to
        nonces[tx.sender] += 1
        raws.append("0x" + bytes(Account.sign_transaction(fields, ACCOUNTS[tx.sender].private_key).raw_transaction).hex())
    # One at a time, in nonce order: anvil handles a JSON-RPC batch's requests out of order,
    # and a transaction that arrives before its predecessor nonce can stay "queued" even after
    # the predecessor is mined (seen with several anvils running). Sequential sends cost
    # ~5 ms a transaction.
    hashes = [rpc.call("eth_sendRawTransaction", raw) for raw in raws]
    deadline = time.monotonic() + timeout
    next_mine = time.monotonic() + 0.25
    while True:
        receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        if all(receipts):
            break
        if time.monotonic() > deadline:
            raise DevnetError(f"{sum(not r for r in receipts)} deployment transactions not mined after {timeout:.0f}s")
        if time.monotonic() > next_mine:
            # Still missing: the pool's state is suspect (a transaction queued behind a
            # nonce it never noticed was mined, or one lost). Empty the pool (on a fresh
            # devnet chain only the deployment sends) and send the unmined ones again in
            # nonce order (same bytes, same hashes), each mined before the next one
            # arrives, so no arrival order can strand one. Addresses depend on nonces only,
            # so they stay deterministic.
            rpc.call("anvil_dropAllTransactions")
            for raw, r in zip(raws, receipts):
                if not r:
                    try:
                        rpc.call("eth_sendRawTransaction", raw)
                    except RpcError:
                        pass  # mined meanwhile (nonce too low): its receipt shows it
                    rpc.call("evm_mine")
            next_mine = time.monotonic() + 0.25
        time.sleep(0.02)
    for tx, receipt in zip(txs, receipts):
        if int(receipt["status"], 16) != 1:
            raise DevnetError(f"devnet deployment step {tx.label!r} reverted (tx {receipt['transactionHash']})")
        if tx.expect_address and to_checksum_address(receipt["contractAddress"]) != tx.expect_address:
            raise DevnetError(f"{tx.label} deployed at {receipt['contractAddress']}, expected {tx.expect_address}: "
                              "the chain was not fresh")
    return max(int(r["blockNumber"], 16) for r in receipts)


def deploy(rpc: Rpc, chain_id: int, peer_chain_ids: Sequence[int], timeout: float = 60.0,
           progress: Callable[[str], None] | None = None) -> tuple[ChainContracts, int]:
    """Deploy and seed everything on a fresh chain; return its contracts and the last deploy block.

    ``progress`` (if given) is told each phase as it starts: a deploy takes seconds, and
    ``devnet up`` shows where it is."""
    say = progress or (lambda _line: None)
    addr = predicted_addresses()
    if int(rpc.call("eth_getTransactionCount", ACCOUNTS[0].address, "latest"), 16) != 0:
        raise DevnetError(f"{rpc.url}: deployer already has transactions; the devnet needs a fresh anvil")
    gas_price = 2 * int(rpc.call("eth_gasPrice"), 16) + 10**9
    # Permit2 at its canonical address: its runtime code set directly (no deployer nonce used,
    # so the other addresses stay as they were); it has no immutables (docs/erc7683.md 3b).
    say(f"setting Permit2's code at {PERMIT2_ADDRESS}")
    rpc.call("anvil_setCode", PERMIT2_ADDRESS, "0x" + load_artifact("Permit2").deployed_bytecode.hex())
    deployer = _deployer_phase(addr, peer_chain_ids)
    say(f"deploying contracts, funding accounts with test tokens, seeding pools ({len(deployer)} txs)")
    _send(rpc, chain_id, deployer, gas_price, timeout)
    approvals = _approval_phase(addr)
    say(f"approving the settler, bridge and pools for every account ({len(approvals)} txs)")
    block = _send(rpc, chain_id, approvals, gas_price, timeout)
    contracts = ChainContracts(
        settler=addr["settler"],
        bridge=addr["bridge"],
        permit2=PERMIT2_ADDRESS,
        tokens={sym: TokenInfo(sym, addr[sym], dec) for sym, _, dec, *_ in TOKENS},
        feeds={pair: FeedInfo(pair, addr[f"feed:{pair}"], dec) for pair, dec, _ in FEEDS},
        pools={pair: PoolInfo(pair, addr[f"pool:{pair}"], t0, t1, POOL_FEE_BPS) for pair, t0, t1 in POOLS},
    )
    return contracts, block
