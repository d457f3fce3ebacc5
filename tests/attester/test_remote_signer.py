"""The attester and the bridge relayer signing through a remote signer (``remote`` +
``address``, ``eth_signTransaction``): here anvil's own, for the devnet account that holds
both roles unlocked. The node's config and environment hold no key for that account; each
actor does its real job once on the devnet (a settlement, a release), on SQLite and
PostgreSQL. Also the signer checks of the three sections at load."""

from __future__ import annotations

import pytest

from chains.evm.txsend import EvmTx
from runtime import ConfigError
from runtime.config import load_text

from .conftest import ONE_USDC, open_and_fill, orders, poll, record_as_book, txs
from .test_shared_key import RELAYER, _deposit, _relay


def _remote(chains, address: str) -> dict[str, str]:
    """The signer keys of a section: chain A's anvil signs by default, chain B's own
    signs chain B's transactions (anvil signs only for its own chain id)."""
    a, b = chains
    return {"remote": f"'{a.info.rpc_url}'", "address": f"'{address}'",
            "remote_chains": {b.name: b.info.rpc_url}}


def test_the_attester_settles_through_a_remote_signer(database_url, chains, roles,
                                                      attester_node):
    a, b = chains
    attester = roles["attester"].address
    node, _, _ = attester_node(database_url, key="", **_remote(chains, attester))
    f = open_and_fill(a, b, roles["users"][0], roles["solver"], nonce=9401)
    record_as_book(node, a, b, f)
    b.mine()
    before = a.balance(roles["solver"].address)

    assert poll(node)["devnet-a"]["orders"] == [f.id]
    poll(node)                                            # the receipt: settled
    [row] = txs(node)
    assert (row.sender, row.status) == (attester, "mined")
    assert orders(node)[f.id].status == "settled" and a.escrow_status(f.order.order_id) == 2
    assert a.balance(roles["solver"].address) == before + 10 * ONE_USDC


def test_the_relayer_releases_through_a_remote_signer(database_url, chains, roles,
                                                      attester_node):
    a, b = chains
    relayer = roles["attester"].address                   # devnet: account 1 relays too
    users = roles["users"]
    node, _, _ = attester_node(database_url, relayer=_remote(chains, relayer),
                               relayer_key="")
    before = a.balance(users[2].address)
    deposit = _deposit(node, b, users[1], 5 * ONE_USDC, a.info.chain_id, users[2].address)
    b.mine()                                              # at settlement depth 1

    assert _relay(node)[deposit] == "sent"
    _relay(node)                                          # its receipt
    with node.store.connection():
        [row] = EvmTx.select().where(EvmTx.owner == RELAYER)
    assert (row.sender, row.status, row.chain) == (relayer, "mined", a.name)
    assert a.balance(users[2].address) == before + 5 * ONE_USDC


@pytest.mark.parametrize("section", ["attester", "bridge_relayer", "in_house_solver"])
@pytest.mark.parametrize("body, words", [
    ("remote: 'http://127.0.0.1:8550'", "needs address"),
    ("remote: 'http://127.0.0.1:8550', address: '0x" + "11" * 20 + "', key: '${K}'",
     "one of key, keystore or remote"),
    ("keystore: /nonexistent/op.json, password: '${K}'", "cannot read keystore"),
    ("remote_chains: {devnet-b: 'http://127.0.0.1:8551'}", "goes with remote"),
    ("remote: 'http://127.0.0.1:8550', address: '0x" + "11" * 20 + "', "
     "remote_chains: {devnet-b: 'ftp://x'}", "devnet-b: expected an http(s) URL"),
])
def test_the_signer_of_each_section_is_checked_at_load(section, body, words):
    from node import build_app
    with pytest.raises(ConfigError) as err:
        load_text(f"{section}: {{{body}}}\n", "s.yaml", build_app(), {"K": "0x" + "22" * 32})
    assert words in str(err.value) and "s.yaml:1" in str(err.value)
