"""Head-to-status latency: the block with a fill is mined -> WatchIntents shows FILLED.

A private devnet (free ports) and a real Node (watchers at confirmations 0 and
``POLL`` seconds, the book, SQLite). For each of ``N`` intents: submit (signed by a devnet
user), open it on chain (openFor), subscribe WatchIntents, then send the fill on the
destination chain and time from its receipt (anvil automines: the block exists) to the
FILLED update on the stream. Ceiling, same run, same chain, same poll interval: a bare
loop of ``eth_blockNumber`` + ``eth_getLogs`` noticing the same kind of Filled log
(the bare tools doing the detection part of the same work).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

import requests

from ._table import Row, percentile

N = 30
POLL = 0.05


def _rpc(url: str, method: str, *params):
    reply = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                     "params": list(params)}, timeout=30).json()
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["result"]


def _bare_detect(url: str, settler: str, topic: str, start_block: int, stop: threading.Event,
                 seen: dict[str, float]) -> None:
    """The bare tool: poll the head, eth_getLogs the new blocks, note each Filled's time."""
    cursor = start_block
    while not stop.is_set():
        head = int(_rpc(url, "eth_blockNumber"), 16)
        if head > cursor:
            for lg in _rpc(url, "eth_getLogs", {"fromBlock": hex(cursor + 1), "toBlock": hex(head),
                                                "address": settler, "topics": [topic]}):
                seen.setdefault(lg["topics"][1], time.perf_counter())
            cursor = head
        time.sleep(POLL)


def run() -> list[Row]:
    import devnet
    from eth_abi import encode as abi_encode
    from eth_account import Account
    from web3 import Web3

    from node import build_app
    from actors.book import IntentRow
    from clients import IntentStatus, OrbitalClient
    from protocol import FILLED_TOPIC, GaslessOrder, OrbitalOrder, abi
    from runtime.node import Node

    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="orbital-bench-lifecycle-"))
    with devnet.running(tmp / "devnet", ports=devnet.free_ports(2), quiet=True) as info:
        a, b = info.chains
        w3a, w3b = (Web3(Web3.HTTPProvider(c.rpc_url)) for c in (a, b))
        cfg = tmp / "supervisor.yaml"
        cfg.write_text("\n".join([
            "node:", "  grpc_listen: 127.0.0.1:0", "  metrics_listen: 127.0.0.1:0",
            f"  state_dir: {tmp / 'var'}",
            "database:", f"  url: 'sqlite:///{tmp}/orbital.db'",
            "intents:", "  min_open_window: 0", "  user_rate: {rate: 1000, burst: 1000}",
            "  submit_peer_rate: {rate: 100000, burst: 100000}", "  max_open_per_user: 100000",
        ]) + "\n" + devnet.chains_yaml(info, poll_interval=POLL))
        node = Node(str(cfg), build_app(), env=dict(os.environ)).start()
        users = [x for x in info.accounts if "user" in x.roles]
        filler = info.account("solver")
        origin = w3a.eth.contract(address=a.contracts.settler, abi=abi("OrbitalSettler"))
        dest = w3b.eth.contract(address=b.contracts.settler, abi=abi("OrbitalSettler"))
        usdc_a, usdc_b = a.contracts.tokens["USDC"].address, b.contracts.tokens["USDC"].address
        bare_seen: dict[str, float] = {}
        stop = threading.Event()
        bare = threading.Thread(target=_bare_detect, args=(b.rpc_url, b.contracts.settler, FILLED_TOPIC,
                                                           w3b.eth.block_number, stop, bare_seen), daemon=True)
        bare.start()
        node_ms, bare_ms = [], []
        try:
            with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
                for i in range(N):
                    user = users[i % len(users)]
                    now = w3a.eth.get_block("latest")["timestamp"]
                    order = GaslessOrder(a.contracts.settler, user.address, 10**9 + i, a.chain_id, now + 600,
                                         now + 3600, OrbitalOrder(usdc_a, 10**6, usdc_b, 10**6 - 1000,
                                                                  user.address, b.chain_id))
                    typed = order.typed_data()
                    sig = "0x" + bytes(Account.sign_typed_data(user.private_key, full_message=typed).signature).hex()
                    intent = client.submit(json.dumps(typed), sig)
                    tx = origin.functions.openFor(order.to_abi(), bytes.fromhex(sig[2:]),
                                                  abi_encode(["address"], [filler.address])
                                                  ).transact({"from": filler.address})
                    w3a.eth.wait_for_transaction_receipt(tx)
                    client.wait(intent.id, until=[IntentStatus.OPENED])
                    with node.store.connection():
                        IntentRow.get_by_id(intent.id)
                    resolved = origin.functions.resolveFor(order.to_abi(), abi_encode(["address"], [filler.address])).call()
                    origin_data = resolved[7][0][2]
                    got = threading.Event()
                    stamp: list[float] = []

                    def follow(intent=intent, stamp=stamp, got=got):
                        for u in client.watch([intent.id]):
                            if u.intent.status is IntentStatus.FILLED:
                                stamp.append(time.perf_counter())
                                got.set()
                                return
                    t = threading.Thread(target=follow, daemon=True)
                    t.start()
                    time.sleep(0.1)   # the watch is subscribed (snapshot read) before the fill
                    tx = dest.functions.fill(order.order_id, origin_data, b"").transact({"from": filler.address})
                    # polled every 1 ms: "mined" is when the block is there, not up to
                    # web3's default 100 ms poll later (which skewed both figures)
                    w3b.eth.wait_for_transaction_receipt(tx, poll_latency=0.001)
                    mined = time.perf_counter()
                    if not got.wait(30):
                        raise RuntimeError(f"FILLED never reached the watch of {intent.id}")
                    node_ms.append((stamp[0] - mined) * 1000)
                    key = "0x" + order.order_id.hex()
                    deadline = time.monotonic() + 10
                    while key not in bare_seen and time.monotonic() < deadline:
                        time.sleep(0.005)
                    bare_ms.append(max(0.0, bare_seen[key] - mined) * 1000)
        finally:
            stop.set()
            node.shutdown()
    p50, p99 = percentile(node_ms, 50), percentile(node_ms, 99)
    b50, b99 = percentile(bare_ms, 50), percentile(bare_ms, 99)
    note = f"{N} fills, confirmations 0, poll {POLL * 1000:.0f} ms; ceiling = bare eth_getLogs poll loop"
    return [
        Row("head-to-status: fill mined -> WatchIntents FILLED, p50", p50, "ms", b50,
            target="p50 within one poll of the bare loop", ok=p50 <= b50 + POLL * 1000 + 20, note=note),
        Row("head-to-status: fill mined -> WatchIntents FILLED, p99", p99, "ms", b99,
            target="< 250 ms", ok=p99 < 250),
    ]
