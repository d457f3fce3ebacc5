"""One nonce stream per (chain, address) (issue 16, point 4): the in-house solver's sends
(through :class:`actors.in_house_solver.HouseGateway`, from several award threads at once,
as the solver runs them) and a rebalance strategy's (its own TxSender) on the same key at
the same time, many of each, with automine off so all of them sit in one mempool. Every
one is mined, no nonce is taken twice, none replaces another; and after a restart (every
sender closed, one transaction recorded but never sent, as a crash between record and
broadcast leaves it) the new senders skip the recorded nonce and the recorded bytes are
sent by the reconciliation, not re-made. Real anvil, SQLite and PostgreSQL.

Before, the in-house solver counted nonces on its own (``eth_getTransactionCount``, then
+1): with the strategy's sender on the same key both handed out the same nonces, and the
node kept one and refused or replaced the other."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from eth_account import Account

from actors.in_house_solver import HouseGateway
from chains.evm import RpcClient
from chains.evm.txsend import MIGRATION, EvmTx, TxConfig, TxSender
from runtime.store import Store

from .conftest import fresh_address

HOUSE, STRATEGY = "intents/in-house", "rebalance/strategies/usdc"
THREADS, PER_THREAD, STRATEGY_SENDS = 3, 6, 10


@pytest.fixture
def store(database_url, tmp_path):
    s = Store(database_url, state_dir=str(tmp_path), migrations=[MIGRATION])
    s.migrate()
    yield s
    s.close()


class Crash(RuntimeError):
    pass


def _senders(chain_a, store, treasury) -> tuple[HouseGateway, TxSender, list]:
    """What the node builds: the in-house solver's gateway over its sender, and the
    strategy's sender, each over an RPC client of its own (as each actor owns one)."""
    opened: list = []

    def sender(owner: str) -> TxSender:
        rpc = RpcClient([chain_a.info.rpc_url], timeout=10)
        s = TxSender("devnet-a", chain_a.info.chain_id, rpc, Account.from_key(treasury.private_key),
                     store, owner, TxConfig(replace_after=3600))
        opened.append((s, rpc))
        return s
    house = HouseGateway({chain_a.info.chain_id: sender(HOUSE)})
    return house, sender(STRATEGY), opened


def _close(opened: list) -> None:
    for s, rpc in opened:
        s.close()
        rpc.close()


def _send_concurrently(chain_a, house: HouseGateway, strategy: TxSender, round_: str) -> None:
    errors: list[BaseException] = []
    go = threading.Barrier(THREADS + 1)

    def award(t: int) -> None:
        try:
            go.wait()
            for i in range(PER_THREAD):
                house.send(chain_a.info.chain_id, fresh_address(), "0x", 21_000,
                           f"fill-{round_}-{t}-{i}")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def rebalance() -> None:
        try:
            go.wait()
            for i in range(STRATEGY_SENDS):
                row = strategy.submit(fresh_address(), value=1, gas=21_000,
                                      reference=f"move-{round_}-{i}", purpose="bridge")
                assert row.status == "pending", row.error
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=award, args=(t,)) for t in range(THREADS - 1)]
    threads.append(threading.Thread(target=rebalance))
    for t in threads:
        t.start()
    go.wait()
    for t in threads:
        t.join(120)
    assert not errors, errors


def _rows(store) -> list[EvmTx]:
    with store.connection():
        return list(EvmTx.select().order_by(EvmTx.nonce, EvmTx.id))


def test_in_house_solver_and_rebalance_on_one_key_share_one_nonce_stream(chain_a, treasury,
                                                                         store):
    start = chain_a.nonce(treasury.address)
    chain_a.rpc("evm_setAutomine", False)
    house, strategy, opened = _senders(chain_a, store, treasury)
    _send_concurrently(chain_a, house, strategy, "1")
    first = (THREADS - 1) * PER_THREAD + STRATEGY_SENDS
    pool = chain_a.rpc("txpool_content")["pending"]
    [mine] = [v for k, v in pool.items() if k.lower() == treasury.address.lower()]
    assert sorted(int(n) for n in mine) == list(range(start, start + first))

    # a crash between record and broadcast: the row holds its nonce, nothing was sent
    def crash(row: EvmTx) -> None:
        raise Crash(row.tx_hash)
    strategy.after_record = crash
    with pytest.raises(Crash):
        strategy.submit(fresh_address(), value=1, gas=21_000, reference="move-crash")
    [unsent] = [r for r in _rows(store) if r.sent_at is None]
    assert unsent.nonce == start + first

    # restart: every sender closed (the process's allocator gone), new ones made
    _close(opened)
    house, strategy, opened = _senders(chain_a, store, treasury)
    strategy.reconcile()                          # the recorded bytes go out, not re-made
    _send_concurrently(chain_a, house, strategy, "2")
    chain_a.mine()
    chain_a.rpc("evm_setAutomine", True)
    strategy.poll()
    house.follow(now=0.0)

    total = 2 * first + 1
    rows = _rows(store)
    assert len(rows) == total
    assert Counter(r.owner for r in rows) == {HOUSE: 2 * (THREADS - 1) * PER_THREAD,
                                              STRATEGY: 2 * STRATEGY_SENDS + 1}
    assert {r.status for r in rows} == {"mined"}, Counter(r.status for r in rows)
    assert [r.nonce for r in rows] == list(range(start, start + total))   # none twice
    assert all(r.replaces is None for r in rows)                          # none replaced
    assert unsent.tx_hash in {r.tx_hash for r in rows}
    assert chain_a.nonce(treasury.address) == start + total
    _close(opened)
