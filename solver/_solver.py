"""The reference solver: sessions with reconnect, bids from inventory, awards executed on chain.

A :class:`Solver` is a small object with ``start()``/``stop()`` so tests run it in-process on a
thread, and the CLI runs the same object in the foreground (``run()``). Threads: one runs the
session loop (and reads the stream), one sends heartbeats while a session lives, and a pool of
``max_parallel`` workers executes awards (open + fill take seconds; the stream must keep being
read meanwhile, or the node would drop the session as a slow reader).

Reconnect: when a session ends (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, the node
restarting, ...) the solver reconnects after an exponential backoff with jitter, reset once a
session was welcomed. PERMISSION_DENIED and INVALID_ARGUMENT before the welcome are
configuration mistakes (key not allowed, unknown chain or token): retrying cannot help, so the
solver stops with the error. After a welcome they refuse one message (a report the node's
version does not accept, e.g. a Solana signature as a fill report's tx_hash): logged, and the
solver reconnects; the refused message is not sent again.
Fill reports and escrow mismatch reports that could not be sent (session gone) are sent
first on the next session.

Voided awards: each award queued or running is kept (``_inflight``) with its
:class:`~solver._execute.Abort`; a ``loss`` for that intent (the node voided the award:
opened on chain with other terms, cancelled, exclusivity lapsed) sets it, and the worker starts
no further transaction for it (docs/reference-solver.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc

from orbital.v1 import solver_pb2 as pb
from protocol.transport import open_channel

from ._chain import EvmChain, TxGateway
from ._config import SolverConfig
from ._execute import AwardJob, Executor, Outcome, bounded
from ._inventory import Inventory
from ._journal import FillJournal
from ._solana import SolanaChain
from ._session import SessionRun

__all__ = ["Solver"]

log = logging.getLogger("orbital.solver")

FATAL = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT}
TERMINAL = {5, 6, 7, 8, 9}   # IntentStatus SETTLED, CANCELLED, EXPIRED, REFUNDED, FAILED


class Solver:
    def __init__(self, config: SolverConfig, *,
                 before_send: Callable[[], None] | None = None,
                 gateway: TxGateway | None = None) -> None:
        """``before_send``: called before each transaction is sent; raising stops it (the
        award then fails as on any error of its transaction). ``gateway``: who signs and
        sends the EVM transactions instead of the solver's own nonce counter (the node's
        sender, for the in-house solver; see :class:`TxGateway`)."""
        self.config = config
        self.chains = {c.chain_id: EvmChain(c, config.key, rpc_timeout=config.rpc_timeout,
                                            receipt_timeout=config.receipt_timeout,
                                            before_send=before_send, gateway=gateway)
                       for c in config.chains}
        journal = FillJournal(config.state_dir)
        self.solana = {c.chain_id: SolanaChain(c, config.solana_key, journal, rpc_timeout=config.rpc_timeout,
                                               confirm_timeout=config.receipt_timeout,
                                               before_send=before_send)
                       for c in config.solana_chains if config.solana_key is not None}
        self.inventory = Inventory(config, self.chains, solana=self.solana)
        self.executor = Executor(self.chains, config.address, self._report, self._report_mismatch,
                                 solana=self.solana)
        self.connected = threading.Event()    # set while a session is welcomed
        self.stats: Counter[str] = Counter()
        self.error: str | None = None         # a fatal refusal, set when the solver gave up
        self.outcomes: dict[str, Outcome] = {}
        self.sessions = 0
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._run: SessionRun | None = None
        self._channel: grpc.Channel | None = None
        # (SolverMessage field, message): reports to send first on the next session
        self._pending_reports: list[tuple[str, pb.FillReport | pb.EscrowMismatch]] = []
        self._inflight: dict[str, list[AwardJob]] = {}   # intent id -> awards queued or running
        self._pool = ThreadPoolExecutor(max_workers=config.max_parallel, thread_name_prefix="solver-award")
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> Solver:
        self._thread = threading.Thread(target=self.run, name="solver", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the session loop to end (safe from a signal handler); :meth:`stop` also waits."""
        self._stop.set()
        run, channel = self._run, self._channel
        if run is not None:
            run.cancel()
        if channel is not None:
            channel.close()   # also aborts a GetChallenge in flight

    def stop(self, timeout: float = 10.0) -> None:
        """End the session and wait for awards in progress (they finish or time out)."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Solver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def run(self) -> None:
        """Sessions until :meth:`stop` (or a fatal refusal, recorded in ``error``)."""
        attempt = 0
        log.info("solver %s serving chains %s", self.config.address,
                 ", ".join([f"{c.name}({c.chain_id})" for c in self.config.chains]
                           + [f"{c.name}({c.chain_id})" for c in self.config.solana_chains]))
        while not self._stop.is_set():
            run = SessionRun(self.config, self)
            self._run = run
            channel = self._channel = open_channel(self.config.target, self.config.tls)
            try:
                if self._stop.is_set():
                    break
                self.sessions += 1
                run.run(channel)
                log.info("session %s ended by the node", run.session_id or "(not welcomed)")
            except grpc.RpcError as exc:
                code, details = exc.code(), exc.details()
                if not self._stop.is_set():
                    log.warning("session ended: %s %s", code.name if code else "?", details)
                    if code in FATAL and not run.welcomed.is_set():
                        self.error = f"{code.name}: {details}"
                        break
            except Exception:
                if not self._stop.is_set():   # a closed channel while stopping is expected
                    log.exception("session crashed")
            finally:
                run.cancel()
                channel.close()
                self.connected.clear()
                self._run = self._channel = None
            if run.welcomed.is_set():
                attempt = 0
            attempt += 1
            self._stop.wait(self.config.backoff.delay(attempt))
        self._stop.set()

    # ---- waiting (tests, the CLI) --------------------------------------------------------
    def wait_outcome(self, intent_id: str, timeout: float = 30.0) -> Outcome | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while intent_id.lower() not in self.outcomes:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self.outcomes[intent_id.lower()]

    # ---- session handler -----------------------------------------------------------------
    def on_welcome(self, run: SessionRun, welcome: pb.Welcome) -> None:
        log.info("session %s welcomed (heartbeat every %.1fs)", welcome.session_id,
                 welcome.heartbeat_interval_seconds)
        with self._cond:
            pending, self._pending_reports = self._pending_reports, []
        for kind, report in pending:
            run.send(**{kind: report})
        self.connected.set()

    def on_offer(self, run: SessionRun, offer: pb.Offer) -> None:
        self.stats["offers"] += 1
        intent = offer.intent
        if intent.open_deadline.seconds and intent.open_deadline.seconds <= time.time() + 1:
            self.stats["passed"] += 1
            return
        origin = self.chains.get(intent.origin_chain_id)
        if origin is not None and intent.origin_settler and intent.origin_settler.lower() != origin.spec.settler.lower():
            log.info("offer %s: pass (origin settler %s is not %s)", intent.id, intent.origin_settler,
                     origin.spec.settler)
            self.stats["passed"] += 1
            return
        try:
            decision = self.inventory.decide(intent.id.lower(), intent.origin_chain_id, intent.destination_chain_id,
                                             intent.output_token, int(intent.min_output_amount or 0))
        except Exception as exc:  # RPC down: pass on this one rather than lose the session
            log.warning("offer %s: cannot read inventory: %s", intent.id, exc)
            self.stats["passed"] += 1
            return
        if decision.amount is None:
            log.info("offer %s: pass (%s)", intent.id, decision.reason)
            self.stats["passed"] += 1
            return
        self.stats["bids"] += 1
        run.send(bid=pb.Bid(intent_id=intent.id, output_amount=str(decision.amount)))

    def on_award(self, run: SessionRun, award: pb.Award) -> None:
        self.stats["awards"] += 1
        intent_id = award.intent_id.lower()
        amount = int(award.output_amount or 0)
        intent = award.intent
        if intent.destination_chain_id and intent.output_token:
            self.inventory.awarded(intent_id, intent.destination_chain_id, intent.output_token, amount)
        deadline = award.exclusivity_deadline
        until = deadline.seconds + deadline.nanos / 1e9 if award.HasField("exclusivity_deadline") else 0.0
        job = AwardJob(intent_id, award.typed_data, award.signature, amount, until)
        with self._cond:
            self._inflight.setdefault(intent_id, []).append(job)
        self._pool.submit(self._execute, job)

    def on_loss(self, run: SessionRun, loss: pb.Loss) -> None:
        """Outbid, or an award of ours voided: release the hold, and abort any execution of
        it before its next transaction (a fill against a voided award is not repaid)."""
        self.stats["losses"] += 1
        intent_id = loss.intent_id.lower()
        self.inventory.release(intent_id)
        with self._cond:
            running = list(self._inflight.get(intent_id, ()))
        for job in running:
            job.abort.set(loss.reason)
        if running:
            log.info("award %s voided by the node (%s): no further transaction", intent_id, loss.reason)

    def on_bid_rejected(self, run: SessionRun, rejected: pb.BidRejected) -> None:
        self.stats["bids_rejected"] += 1
        log.info("bid on %s rejected: %s", rejected.intent_id, rejected.reason)
        self.inventory.release(rejected.intent_id.lower())

    def on_update(self, run: SessionRun, update) -> None:
        if update.intent.status in TERMINAL:
            self.inventory.release(update.intent.id.lower())

    # ---- awards --------------------------------------------------------------------------
    def _execute(self, job: AwardJob) -> None:
        try:
            outcome = self.executor.execute(job)
        finally:
            self.inventory.release(job.intent_id)
            with self._cond:
                left = [j for j in self._inflight.get(job.intent_id, ()) if j is not job]
                if left:
                    self._inflight[job.intent_id] = left
                else:
                    self._inflight.pop(job.intent_id, None)
        if outcome.release:
            self._decline(job.intent_id, outcome.reason)
        with self._cond:
            self.stats[outcome.status] += 1
            self.outcomes[job.intent_id] = outcome
            self._cond.notify_all()

    def _decline(self, intent_id: str, reason: str) -> None:
        """Release an award it cannot execute (nothing opened under it): the node re-auctions
        it at once, and a decline weighs less on this solver's reliability than letting the
        exclusivity lapse. Only on the live session: after a reconnect the award lapses."""
        run = self._run
        if sent := (run is not None and run.welcomed.is_set() and
                        run.send(decline=pb.Decline(intent_id=intent_id, reason=bounded(reason)))):
            log.info("award %s declined: %s", intent_id, reason)
        with self._cond:
            self.stats["declined" if sent else "decline_unsent"] += 1

    def on_decline_rejected(self, run: SessionRun, rejected: pb.DeclineRejected) -> None:
        log.info("decline of %s refused: %s", rejected.intent_id, rejected.reason)

    def on_suspended(self, run: SessionRun, suspended: pb.Suspended) -> None:
        log.warning("suspended by the node until %s: %s", suspended.until.ToJsonString(),
                    suspended.reason)

    def _report(self, intent_id: str, chain: str, tx_hash: str, kind: str) -> None:
        self._send_report("fill_report", pb.FillReport(intent_id=intent_id, chain=chain, tx_hash=tx_hash,
                                                       kind=kind))

    def _report_mismatch(self, intent_id: str, chain: str, reason: str) -> None:
        """The escrow of an award does not hold it: tell the node (its history records it)."""
        with self._cond:
            self.stats["mismatch_reports"] += 1
        self._send_report("escrow_mismatch", pb.EscrowMismatch(intent_id=intent_id, chain=chain, reason=reason))

    def _send_report(self, kind: str, report: pb.FillReport | pb.EscrowMismatch) -> None:
        """On the live session, or kept for the next one."""
        run = self._run
        if run is not None and run.welcomed.is_set() and run.send(**{kind: report}):
            return
        with self._cond:
            self._pending_reports.append((kind, report))
