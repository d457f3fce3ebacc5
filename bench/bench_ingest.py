"""Chain watcher backfill: logs/s decoded and persisted vs raw ``eth_getLogs`` (same run).

A private devnet (free ports) gets N BridgeDeposit logs (500 per block, mined before the
watcher starts). Figures, all over the same block range:
- raw ``eth_getLogs`` (one request per ``max_range`` blocks, JSON parsed), for reference;
- raw ``eth_getLogs`` + bare ``eth_abi.decode`` of every log's topics and data;
- raw ``eth_getLogs`` + protocol.events' decoder, for reference;
- raw ``eth_getLogs`` bytes + the watcher's decoding (msgspec into ``Log`` values, then the
  generated row builders of ``chains.evm.ingest``), for reference;
- a raw batched ``INSERT`` of the decoded rows (SQLite);
- the watcher: a real Node with one ``chains/watcher/bench`` backfilling from the first
  block to the head, timed from node start to its cursor reaching the head.
Target (issue 4): the watcher's logs/s decoded and persisted >= 70 % of raw ``eth_getLogs``
over the same range in the same run, on the default database (SQLite); the same backfill
on PostgreSQL is reported beside it. The watcher and raw ``eth_getLogs`` runs are
interleaved (TRIALS each; the machine is shared and figures drift) and the best of each
is compared; the note gives the median of the per-trial ratios too. The older ceiling
(the slower of "raw eth_getLogs + eth_abi" and "raw batched INSERT") is in the note.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import requests

from ._pg import PgDatabase
from ._table import Row, interleaved

LOGS = 10_000
PER_BLOCK = 500
MAX_RANGE = 2000
TRIALS = 5


def _bare_eth_abi(log) -> tuple:
    """What the bare tool does for one log: eth_abi over the indexed topics and the data."""
    from eth_abi import decode
    from protocol.events import EVENTS_BY_TOPIC
    spec = EVENTS_BY_TOPIC[log["topics"][0]]
    indexed = [t for _, t, i in spec.inputs if i]
    plain = [t for _, t, i in spec.inputs if not i]
    values = tuple(decode([t], bytes.fromhex(topic[2:]))[0]
                   for t, topic in zip(indexed, log["topics"][1:]))
    return values + decode(plain, bytes.fromhex(log["data"][2:]))


def _rpc(url: str, method: str, *params):
    reply = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                     "params": list(params)}, timeout=60).json()
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["result"]


def _generate(info, operator: str) -> tuple[int, int]:
    from web3 import Web3
    from protocol import abi
    url = info.rpc_url
    bridge = Web3().eth.contract(address=info.contracts.bridge, abi=abi("Bridge"))
    usdc = info.contracts.tokens["USDC"].address
    first = int(_rpc(url, "eth_blockNumber"), 16) + 1
    nonce = int(_rpc(url, "eth_getTransactionCount", operator, "pending"), 16)
    _rpc(url, "evm_setAutomine", False)
    try:
        for i in range(0, LOGS, PER_BLOCK):
            batch = [{"jsonrpc": "2.0", "id": j, "method": "eth_sendTransaction", "params": [{
                "from": operator, "to": bridge.address, "gas": 200_000,
                "nonce": hex(nonce + i + j),
                "data": bridge.encode_abi("deposit", args=[usdc, i + j + 1, 31338, operator])}]}
                for j in range(PER_BLOCK)]
            replies = requests.post(url, json=batch, timeout=120).json()
            bad = [r for r in replies if "result" not in r]
            if bad:
                raise RuntimeError(f"deposit rejected: {bad[0]}")
            _rpc(url, "evm_mine")
    finally:
        _rpc(url, "evm_setAutomine", True)
    return first, int(_rpc(url, "eth_blockNumber"), 16)


def _get_logs_bodies(info, first: int, last: int):
    """Raw ``eth_getLogs`` replies over [first, last], one request per MAX_RANGE blocks."""
    from protocol.events import EVENTS_BY_TOPIC
    session = requests.Session()
    for lo in range(first, last + 1, MAX_RANGE):
        hi = min(last, lo + MAX_RANGE - 1)
        yield session.post(info.rpc_url, json={
            "jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{
                "fromBlock": hex(lo), "toBlock": hex(hi),
                "address": [info.contracts.settler, info.contracts.bridge],
                "topics": [sorted(EVENTS_BY_TOPIC)]}]}, timeout=60)


def _raw_get_logs(info, first: int, last: int, decode) -> tuple[float, int]:
    """The bare tools: requests + its JSON parsing (+ ``decode`` per log, if given)."""
    started = time.perf_counter()
    n = 0
    for reply in _get_logs_bodies(info, first, last):
        logs = reply.json()["result"]
        if decode is not None:
            for lg in logs:
                decode(lg)
        n += len(logs)
    return time.perf_counter() - started, n


def _raw_watcher_decode(info, first: int, last: int) -> float:
    """The same requests, the body decoded as the watcher does (no JSON dicts)."""
    from chains.evm.ingest import decode_logs, event_rows
    started = time.perf_counter()
    for reply in _get_logs_bodies(info, first, last):
        event_rows("bench", decode_logs(reply.content))
    return time.perf_counter() - started


def _raw_insert(info, first: int, last: int, tmp: Path) -> float:
    from chains.evm import MIGRATIONS, event_rows, insert_events
    from runtime.store import Store
    logs = _rpc(info.rpc_url, "eth_getLogs", {"fromBlock": hex(first), "toBlock": hex(last),
                                              "address": [info.contracts.bridge]})
    rows = event_rows("bench", logs)
    store = Store(f"sqlite:///{tmp}/raw.db", state_dir=str(tmp), migrations=MIGRATIONS)
    store.migrate()
    started = time.perf_counter()
    with store.connection() as db, db.atomic():
        insert_events(db, rows)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def _watcher(info, first: int, last: int, tmp: Path, db_url: str | None = None) -> float:
    """Seconds from node start to the cursor at ``last`` (a fresh database: SQLite in
    ``tmp``, or ``db_url``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    from actors.chain_watcher import WatcherStatus, install
    from node import new_app
    from runtime.node import Node
    c = info.contracts
    cfg = tmp / "supervisor.yaml"
    cfg.write_text(f"""node:
  grpc_listen: 127.0.0.1:0
  metrics_listen: 127.0.0.1:0
  state_dir: {tmp / 'var'}
database:
  url: '{db_url or f"sqlite:///{tmp}/watcher.db"}'
chains:
  bench:
    chain_id: {info.chain_id}
    rpc: [{info.rpc_url}]
    contracts: {{settler: '{c.settler}', bridge: '{c.bridge}'}}
    start_block: {first}
    poll_interval: 0.01
    max_range: {MAX_RANGE}
""")
    app = new_app()
    install(app)
    node = Node(str(cfg), app)
    node.start()              # the watcher's first tick is queued: timing starts here
    started = time.perf_counter()
    try:
        while True:
            st = node.registry.ask("chains/watcher/bench", WatcherStatus(), timeout=30)
            if st["indexed"] >= last:
                return time.perf_counter() - started
            if time.perf_counter() - started > 120:
                raise RuntimeError(f"watcher did not reach block {last}: {st}")
            time.sleep(0.005)
    finally:
        node.shutdown()


def run() -> list[Row]:
    import devnet
    logging.getLogger("orbital").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with devnet.running(tmp / "devnet", ports=devnet.free_ports(2), quiet=True) as info:
            chain = info.chains[0]
            first, last = _generate(chain, info.account("operator").address)
            from protocol.events import decode_log
            runs = iter(range(TRIALS))
            pg_runs = iter(range(TRIALS))

            def on_postgres() -> float:
                with PgDatabase() as url:
                    return _watcher(chain, first, last, tmp / f"p{next(pg_runs)}", url)
            timed = interleaved(
                TRIALS, raw=lambda: _raw_get_logs(chain, first, last, None)[0],
                watcher=lambda: _watcher(chain, first, last, tmp / f"w{next(runs)}"),
                postgres=on_postgres)
            raw, watcher_s = min(timed["raw"]), min(timed["watcher"])
            pg_s = min(timed["postgres"])
            ratios = sorted(r / w for r, w in zip(timed["raw"], timed["watcher"]))
            pg_ratios = sorted(r / w for r, w in zip(timed["raw"], timed["postgres"]))
            bare_s = min(_raw_get_logs(chain, first, last, _bare_eth_abi)[0]
                         for _ in range(3))
            decoded_s, n = min(_raw_get_logs(chain, first, last, decode_log)
                                for _ in range(3))
            fast_s = min(_raw_watcher_decode(chain, first, last) for _ in range(3))
            insert_s = _raw_insert(chain, first, last, tmp)
    assert n == LOGS, n
    ceiling = min(n / bare_s, n / insert_s)
    figure = n / watcher_s
    median = ratios[len(ratios) // 2]
    pg_figure, pg_median = n / pg_s, pg_ratios[len(pg_ratios) // 2]
    return [
        Row("ingest: raw eth_getLogs (reference)", n / raw, "logs/s",
            note=f"{n} logs over {last - first + 1} blocks, {MAX_RANGE}-block requests"),
        Row("ingest: raw eth_getLogs + bare eth_abi decode", n / bare_s, "logs/s"),
        Row("ingest: raw eth_getLogs + protocol.events decode", n / decoded_s, "logs/s"),
        Row("ingest: raw eth_getLogs + the watcher's decoding", n / fast_s, "logs/s"),
        Row("ingest: raw batched INSERT (SQLite)", n / insert_s, "rows/s"),
        Row("ingest: watcher backfill (decode + persist)", figure, "logs/s", n / raw,
            ">= 70 % of raw eth_getLogs", figure >= 0.7 * n / raw,
            note=f"best of {TRIALS} interleaved trials each (median per-trial ratio "
                 f"{median:.2f}); ceiling = raw eth_getLogs over the same range; watcher "
                 "timed from node start to its cursor at the head; SQLite; includes the "
                 "header fetches and one-transaction commits; vs the older ceiling "
                 f"(slower of raw eth_getLogs + eth_abi and raw INSERT): "
                 f"{figure / ceiling:.2f}"),
        Row("ingest: watcher backfill on PostgreSQL", pg_figure, "logs/s", n / raw,
            "reported (issue 4's target is on the default SQLite)",
            note=f"the same, on a fresh PostgreSQL database per trial (direct COPY in a "
                 f"savepoint, no commit flush wait); the PostgreSQL server shares the 2 "
                 f"cores with anvil and the node; median per-trial ratio {pg_median:.2f}"),
    ]
