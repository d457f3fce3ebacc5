"""The devnet's one-owner smart-contract wallet (contracts/src/SimpleWallet.sol), deployed
and funded for a test: an ERC-1271 user of Orbital whose orders its owner (an EOA) signs."""

from __future__ import annotations

from web3 import Web3

from protocol import abi, load_artifact

__all__ = ["deploy_wallet", "fund_wallet"]


def _mined(w3: Web3, tx) -> dict:
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=10)
    assert receipt["status"] == 1, receipt
    return receipt


def deploy_wallet(w3: Web3, owner: str):
    """A SimpleWallet owned by ``owner`` (an unlocked anvil account, which also pays)."""
    art = load_artifact("SimpleWallet")
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = _mined(w3, factory.constructor(owner).transact({"from": owner}))
    return w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)


def fund_wallet(w3: Web3, wallet, token: str, amount: int, spender: str) -> None:
    """Move ``amount`` of ``token`` from the wallet's owner into the wallet, and have the
    wallet approve ``spender`` (the settler) for it: a wallet user ready to be opened for."""
    owner = wallet.functions.owner().call()
    erc20 = w3.eth.contract(address=token, abi=abi("TestToken"))
    _mined(w3, erc20.functions.transfer(wallet.address, amount).transact({"from": owner}))
    approve = erc20.encode_abi("approve", [spender, amount])
    _mined(w3, wallet.functions.execute(token, 0, approve).transact({"from": owner}))
