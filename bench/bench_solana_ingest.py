"""Solana watcher ingest: SPL transfers/s indexed vs raw ``getSignaturesForAddress`` +
``getTransaction`` over the same transfers (same run).

A private solana-local (its own process, free port, as ``make devnet`` runs it) gets
TRANSFERS memo-tagged SPL ``TransferChecked`` transactions (an order id memo each), sent
before anything is timed. Figures, over exactly those transactions:

- the ceiling: the bare RPC work the watcher cannot avoid, on the same client
  (``chains.solana.SolanaRpc``): ``getSignaturesForAddress`` of the SPL Token program paged
  ``PAGE`` at a time (``before``, bounded by ``until`` = the last signature before the
  seeding), then ``getTransaction`` (json) in one batch per page, replies parsed;
- the watcher: a real Node with one ``chains/watcher/bench`` (``page_size`` PAGE) indexing
  from scratch (``start_slot`` at the first transfer) into a fresh SQLite database, timed
  from node start to its cursor past the last transfer's slot, every row checked;
- the same on a fresh PostgreSQL database.

Runs are interleaved (TRIALS each: the machine is shared, figures drift) and the best of
each is compared; the note has the median of the per-trial ratios.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from ._pg import PgDatabase
from ._table import Row, interleaved

TRANSFERS = 2_000
PAGE = 1_000
TRIALS = 3
SEND_BATCH = 100          # sendTransaction per JSON-RPC batch (a fresh blockhash each)
TARGET = 0.5              # the watcher's transfers/s over the ceiling's


def _seed(rpc, url: str) -> tuple[str, int, int]:
    """TRANSFERS memo-tagged USDC transfers user 3 -> user 4; returns (the newest Token
    program signature before them, the first transfer's slot, the last one's slot)."""
    import base64

    import requests
    from solders.instruction import Instruction
    from solders.pubkey import Pubkey
    from solders.hash import Hash
    from solders.transaction import Transaction
    from spl.token.constants import TOKEN_PROGRAM_ID
    from spl.token.instructions import transfer_checked
    from spl.token.models import TransferCheckedParams

    from devnet.solana_keys import SOLANA_ACCOUNTS, mint_keypair
    from protocol.solana import MEMO_PROGRAM, TOKEN_PROGRAM

    sender, receiver = SOLANA_ACCOUNTS[3], SOLANA_ACCOUNTS[4]
    memo, mint = Pubkey.from_string(MEMO_PROGRAM), mint_keypair().pubkey()
    [before] = rpc.signatures(TOKEN_PROGRAM, commitment="confirmed", limit=1)
    session = requests.Session()
    sigs: list[str] = []
    for start in range(0, TRANSFERS, SEND_BATCH):
        blockhash = Hash.from_string(rpc.client.call("getLatestBlockhash", [])["value"]
                                     ["blockhash"])
        batch = []
        for i in range(start, min(start + SEND_BATCH, TRANSFERS)):
            order_id = "0x" + (i + 1).to_bytes(32, "big").hex()
            tx = Transaction.new_signed_with_payer([
                transfer_checked(TransferCheckedParams(
                    program_id=TOKEN_PROGRAM_ID, source=sender.usdc_account, mint=mint,
                    dest=receiver.usdc_account, owner=sender.pubkey, amount=i + 1,
                    decimals=6)),
                Instruction(memo, order_id.encode(), [])], sender.pubkey, [sender.keypair],
                blockhash)
            batch.append({"jsonrpc": "2.0", "id": i, "method": "sendTransaction", "params": [
                base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}]})
        replies = session.post(url, json=batch, timeout=120).json()
        bad = [r for r in replies if "result" not in r]
        if bad:
            raise RuntimeError(f"transfer rejected: {bad[0]}")
        sigs += [r["result"] for r in sorted(replies, key=lambda r: r["id"])]
    session.close()
    slots = rpc.client.batch([("getSignatureStatuses", [[s]]) for s in (sigs[0], sigs[-1])])
    first, last = (s["value"][0]["slot"] for s in slots)
    return before["signature"], first, last


def _raw(rpc, until: str) -> tuple[float, int]:
    """Seconds for the ceiling's RPC work, and the transactions it fetched."""
    from protocol.solana import TOKEN_PROGRAM
    started = time.perf_counter()
    n, before = 0, None
    while True:
        page = rpc.signatures(TOKEN_PROGRAM, commitment="confirmed", limit=PAGE,
                              before=before, until=until)
        if not page:
            break
        n += len(rpc.transactions([r["signature"] for r in page], commitment="confirmed"))
        if len(page) < PAGE:
            break
        before = page[-1]["signature"]
    return time.perf_counter() - started, n


def _watcher(url: str, first: int, last: int, tmp: Path, db_url: str | None = None) -> float:
    """Seconds from node start to the cursor past ``last`` (a fresh database: SQLite in
    ``tmp``, or ``db_url``), after checking every transfer was indexed once."""
    tmp.mkdir(parents=True, exist_ok=True)
    from actors.chain_watcher import WatcherStatus, install
    from chains.solana import SolanaTransfer
    from devnet.solana_keys import mint_keypair
    from node import new_app
    from runtime.node import Node
    cfg = tmp / "supervisor.yaml"
    cfg.write_text(f"""node:
  grpc_listen: 127.0.0.1:0
  metrics_listen: 127.0.0.1:0
  state_dir: {tmp / 'var'}
database:
  url: '{db_url or f"sqlite:///{tmp}/watcher.db"}'
chains:
  bench:
    kind: solana
    rpc: [{url}]
    start_slot: {first}
    poll_interval: 0.01
    page_size: {PAGE}
    rpc_timeout: 60
    tokens:
      USDC: {{mint: '{mint_keypair().pubkey()}', decimals: 6}}
""")
    app = new_app()
    install(app)
    node = Node(str(cfg), app)
    node.start()              # the watcher's first tick is queued: timing starts here
    started = time.perf_counter()
    try:
        while True:
            st = node.registry.ask("chains/watcher/bench", WatcherStatus(), timeout=60)
            if st["indexed"] >= last:
                elapsed = time.perf_counter() - started
                break
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"watcher did not reach slot {last}: {st}")
            time.sleep(0.005)
        with node.store.connection():
            rows = list(SolanaTransfer.select(SolanaTransfer.amount, SolanaTransfer.order_id))
        if sorted(int(r.amount) for r in rows) != list(range(1, TRANSFERS + 1)) or not all(
                int(r.order_id, 16) == int(r.amount) for r in rows):
            raise RuntimeError(f"watcher indexed {len(rows)} rows, not the {TRANSFERS} "
                               "transfers once each with their order id")
        return elapsed
    finally:
        node.shutdown()


def run() -> list[Row]:
    from chains.solana import SolanaRpc
    from devnet import free_ports, solana_local
    logging.getLogger("orbital").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        port = free_ports(1)[0]
        url = f"http://127.0.0.1:{port}"
        log_path = tmp / "solana-local.log"
        pid = solana_local.spawn("127.0.0.1", port, tmp, log_path)
        try:
            solana_local.wait_ready(pid, url, log_path, 60)
            rpc = SolanaRpc([url], timeout=60)
            until, first, last = _seed(rpc, url)
            counts: list[int] = []
            runs, pg_runs = iter(range(TRIALS)), iter(range(TRIALS))

            def raw() -> float:
                elapsed, n = _raw(rpc, until)
                counts.append(n)
                return elapsed

            def on_postgres() -> float:
                with PgDatabase() as db_url:
                    return _watcher(url, first, last, tmp / f"p{next(pg_runs)}", db_url)
            timed = interleaved(
                TRIALS, raw=raw,
                watcher=lambda: _watcher(url, first, last, tmp / f"w{next(runs)}"),
                postgres=on_postgres)
            rpc.close()
        finally:
            solana_local.terminate(pid)
    if set(counts) != {TRANSFERS}:
        raise RuntimeError(f"the raw pass fetched {counts} transactions, not {TRANSFERS}")
    n = TRANSFERS
    raw_s, sqlite_s, pg_s = (min(timed[k]) for k in ("raw", "watcher", "postgres"))
    ratios = sorted(r / w for r, w in zip(timed["raw"], timed["watcher"]))
    pg_ratios = sorted(r / w for r, w in zip(timed["raw"], timed["postgres"]))
    ceiling, figure, pg_figure = n / raw_s, n / sqlite_s, n / pg_s
    return [
        Row("solana ingest: raw getSignaturesForAddress + getTransaction", ceiling,
            "transfers/s",
            note=f"{n} memo-tagged SPL transfers on a solana-local process, {PAGE}-signature "
                 "pages of the Token program, one getTransaction batch per page, same RPC "
                 "client as the watcher"),
        Row("solana ingest: watcher from scratch (SQLite)", figure, "transfers/s", ceiling,
            f">= {TARGET:.0%} of raw", figure >= TARGET * ceiling,
            note=f"best of {TRIALS} interleaved trials each (median per-trial ratio "
                 f"{ratios[len(ratios) // 2]:.2f}); node start to the cursor past the last "
                 "transfer, every row checked after"),
        Row("solana ingest: watcher from scratch (PostgreSQL)", pg_figure, "transfers/s",
            ceiling, "reported",
            note=f"a fresh PostgreSQL database per trial; median per-trial ratio "
                 f"{pg_ratios[len(pg_ratios) // 2]:.2f}"),
    ]
