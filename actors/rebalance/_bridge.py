"""The devnet Bridge and ERC-20 seen from Python: calldata, views, and the watchers' rows.

Shared by the strategies (approve + deposit, then following the move) and by the
``bridge_relayer`` kind (release). Reads of what happened on chain go through the
``chain_event`` table the chain watchers fill (``BridgeDeposit`` / ``BridgeRelease``,
``order_id`` = the deposit id), read as typed records through ``ChainEvent.event`` (the
one decoder of :mod:`protocol.logs`): no actor here polls logs itself. Views (``balanceOf``,
``allowance``, ``released``) are plain ``eth_call`` through :class:`chains.evm.RpcClient`.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_abi import encode as abi_encode
from eth_utils import keccak

from chains.evm import RpcClient
from chains.evm.models import ChainEvent
from runtime.store import UINT256_MAX as MAX_UINT256

__all__ = ["approve_data", "deposit_data", "release_data", "balance_of", "allowance",
           "is_released", "deposit_events", "release_event", "MAX_UINT256"]


def _sel(sig: str) -> bytes:
    return keccak(text=sig)[:4]


_APPROVE = _sel("approve(address,uint256)")
_DEPOSIT = _sel("deposit(address,uint256,uint256,address)")
_RELEASE = _sel("release(bytes32,address,uint256,address,uint256)")
_BALANCE = _sel("balanceOf(address)")
_ALLOWANCE = _sel("allowance(address,address)")
_RELEASED = _sel("released(bytes32)")


def _hex(sel: bytes, types: list[str], values: list) -> str:
    return "0x" + (sel + abi_encode(types, values)).hex()


def approve_data(spender: str, amount: int) -> str:
    return _hex(_APPROVE, ["address", "uint256"], [spender, amount])


def deposit_data(token: str, amount: int, destination_chain_id: int, recipient: str) -> str:
    return _hex(_DEPOSIT, ["address", "uint256", "uint256", "address"],
                [token, amount, destination_chain_id, recipient])


def release_data(deposit_id: str, token: str, amount: int, recipient: str,
                 origin_chain_id: int) -> str:
    return _hex(_RELEASE, ["bytes32", "address", "uint256", "address", "uint256"],
                [bytes.fromhex(deposit_id[2:]), token, amount, recipient, origin_chain_id])


def _call_uint(rpc: RpcClient, to: str, data: str) -> int:
    out = rpc.call("eth_call", [{"to": to, "data": data}, "latest"])
    if not isinstance(out, str) or len(out) < 66:
        raise ValueError(f"eth_call to {to}: unexpected reply {str(out)[:80]}")
    return int(out[2:66], 16)


def balance_of(rpc: RpcClient, token: str, who: str) -> int:
    return _call_uint(rpc, token, _hex(_BALANCE, ["address"], [who]))


def allowance(rpc: RpcClient, token: str, owner: str, spender: str) -> int:
    return _call_uint(rpc, token, _hex(_ALLOWANCE, ["address", "address"], [owner, spender]))


def is_released(rpc: RpcClient, bridge: str, deposit_id: str) -> bool:
    return _call_uint(rpc, bridge, "0x" + (_RELEASED + bytes.fromhex(deposit_id[2:])).hex()) != 0


def deposit_events(chain: str, tx_hashes: Iterable[str]) -> list[ChainEvent]:
    """``BridgeDeposit`` rows the watcher of ``chain`` indexed for these transactions
    (call inside ``store.connection()``)."""
    hashes = [h.lower() for h in tx_hashes]
    if not hashes:
        return []
    return list(ChainEvent.select().where(
        (ChainEvent.chain == chain) & (ChainEvent.name == "BridgeDeposit") &
        (ChainEvent.tx_hash.in_(hashes))).order_by(ChainEvent.id))


def release_event(chain: str, deposit_id: str) -> ChainEvent | None:
    """The ``BridgeRelease`` of ``deposit_id`` indexed on ``chain``, if any."""
    return (ChainEvent.select().where(
        (ChainEvent.chain == chain) & (ChainEvent.name == "BridgeRelease") &
        (ChainEvent.order_id == deposit_id.lower())).order_by(ChainEvent.id).first())
