"""chains.evm.txsend, as the attester uses it: the same call again after the node refused
it (its nonce given back, fees unchanged) would be the very same signed bytes; it gets a
row and a hash of its own (1 wei more priority fee) instead of breaking on evm_tx's unique
tx_hash. (Lives here because the attester's retry of a refused batch found it; the rest
of TxSender's tests are in tests/funding/test_txsend.py.)"""

from __future__ import annotations

from eth_account import Account

from chains.evm import RpcClient
from chains.evm.txsend import MIGRATION, EvmTx, TxConfig, TxSender
from runtime.store import Store


def test_the_same_call_after_a_refusal_is_a_new_transaction(tmp_path, chains, roles):
    a, _ = chains
    owner = roles["attester"]
    store = Store(f"sqlite:///{tmp_path}/tx.db", state_dir=str(tmp_path), migrations=[MIGRATION])
    store.migrate()
    rpc = RpcClient([a.info.rpc_url], timeout=10)
    sender = TxSender("devnet-a", a.info.chain_id, rpc, Account.from_key(owner.private_key),
                      store, "test/attester", TxConfig())
    try:
        funds = a.rpc("eth_getBalance", owner.address, "latest")
        a.rpc("anvil_setBalance", owner.address, "0x0")
        refused = sender.submit(owner.address, b"", 0, gas=21_000, reference="r")
        assert refused.status == "failed"
        a.rpc("anvil_setBalance", owner.address, funds)
        again = sender.submit(owner.address, b"", 0, gas=21_000, reference="r")
        assert again.nonce == refused.nonce and again.tx_hash != refused.tx_hash
        assert again.priority_fee == refused.priority_fee + 1 and again.status == "pending"
        [done] = sender.poll()
        assert done.id == again.id and done.status == "mined"
        with store.connection():
            assert EvmTx.select().count() == 2
    finally:
        sender.close()
        rpc.close()
        store.close()
