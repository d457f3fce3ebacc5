"""The book's side of chain indexing: apply ``chain_event`` rows in id order, undo reorgs.

The chain watcher's notifications are only a nudge: the book reads ``chain_event`` from
its persisted cursor (``book_cursor``), so a missed or duplicated notification, a book
restart or a crash in the middle changes nothing; the cursor moves in the same
transaction as the transitions it caused. Rows become visible in id order, also on
PostgreSQL where watchers of several chains commit concurrently (``insert_events`` takes
one lock per committing transaction, docs/chain-watcher.md "Commit order"), so a cursor
never passes a row that is committed later.

Each row is typed once (:attr:`ChainEvent.event`) and judged by the one evidence rule
(:mod:`protocol.evidence`, through :func:`._chain.decide`).

Reorgs: a transition whose evidence row has disappeared from ``chain_event`` (the watcher
deletes rolled-back events) is undone by a new transition back to the status before it,
announced like any other; when the chain re-indexes the event, it applies again. A lost
history entry that did not change the status (a foreign fill) gets an entry saying so.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace

from peewee import fn

from chains.evm.models import ChainEvent
from chains.solana import SolanaTransfer
from protocol import parse_order_typed_data
from protocol.accounts import SOLANA
from protocol.evidence import Located, SplTransfer, Terms
from protocol.logs import NonceInvalidated, Open, UnorderedNonceInvalidation
from protocol.solana import MEMO_PROGRAM

from . import _store
from ._chain import CONFLICTING_OPEN, decide, intent_terms, onchain_intent_fields
from ._messages import LostWork
from ._models import BookCursor, IntentRow, IntentTransition
from ._state import BookState
from ._views import Change, IntentView, Status, TransitionView

__all__ = ["EventsMixin"]

log = logging.getLogger("orbital.book")

CURSOR = "chain_events"
SOLANA_CURSOR = "solana_transfers"
_PAGE = 500


@dataclass(frozen=True)
class SolanaEvidence:
    """A ``solana_transfer`` row as the evidence of a transition: what the history entry
    records (chain, slot, signature). ``id`` is None: the entry does not point into
    ``chain_event`` (whose rows a reorg deletes), so the reorg undo never touches it."""

    chain: str
    block_number: int
    tx_hash: str
    log_index: int
    block_hash: str = ""
    id: None = None
    name: str = "SplTransfer"


def solana_located(row: SolanaTransfer, chain_id: int) -> Located:
    """A memo-tagged SPL transfer row as evidence for the rule (protocol.evidence): located
    on the Solana chain's id, "emitted" by the Memo program (the destination the origin
    settlers register), in chain order (slot, then the order it was indexed in)."""
    return Located(chain_id, MEMO_PROGRAM,
                   SplTransfer(bytes.fromhex(row.order_id[2:]), row.mint, row.destination,
                               row.destination_owner, row.source_owner, int(row.amount),
                               row.signature, int(row.slot), row.block_time),
                   int(row.slot), "", row.signature, int(row.id), row.block_time)


class EventsMixin(BookState):
    """Mixed into the Book actor (uses its store, directory, clock, active, _commit)."""

    def setup_events(self) -> None:
        with self.store.connection():
            row = BookCursor.get_or_none(BookCursor.name == CURSOR)
            sol = BookCursor.get_or_none(BookCursor.name == SOLANA_CURSOR)
        self.event_cursor = row.last_event_id if row is not None else 0
        self.solana_cursor = sol.last_event_id if sol is not None else 0
        self.catch_up(reorg=True)

    @staticmethod
    def save_solana_cursor(last_id: int) -> None:
        """In the caller's transaction; the in-memory cursor moves after its commit."""
        n = BookCursor.update(last_event_id=last_id).where(
            BookCursor.name == SOLANA_CURSOR).execute()
        if n == 0:
            BookCursor.insert(name=SOLANA_CURSOR, last_event_id=last_id).on_conflict_ignore().execute()

    def save_cursor(self, last_event_id: int) -> None:
        n = BookCursor.update(last_event_id=last_event_id).where(BookCursor.name == CURSOR).execute()
        if n == 0:
            BookCursor.insert(name=CURSOR, last_event_id=last_event_id).on_conflict_ignore().execute()
        self.event_cursor = last_event_id

    # ---- forward --------------------------------------------------------------------
    def catch_up(self, reorg: bool = False) -> int:
        if reorg:
            self._revert_reorged()
        return self._catch_up_evm() + self._catch_up_solana()

    def _catch_up_evm(self) -> int:
        applied, conflicts = 0, 0
        while True:
            with self.store.connection():
                rows = list(ChainEvent.select().where(ChainEvent.id > self.event_cursor)
                            .order_by(ChainEvent.id).limit(_PAGE))
            if not rows:
                return applied
            try:
                applied += self._apply_page(rows)
            except _store.Conflict:
                conflicts += 1
                if conflicts > 3:
                    raise
                self._reload_active()   # another node applied some of these: decide again
                continue
            if len(rows) < _PAGE:
                return applied

    def _apply_page(self, rows: list) -> int:
        changes: list[Change] = []
        created: list[tuple] = []
        local: dict[str, IntentView] = {}
        for row in rows:
            ref = self._chain_ref(row.chain)
            if ref is None:
                continue
            try:
                seen = row.located(ref.chain_id)
            except ValueError as exc:   # a row the typed decoder refuses: not evidence
                log.warning("chain event not understood", extra={"event_id": row.id,
                                                                  "error": str(exc)})
                continue
            views = self._event_views(row, seen, local)
            if not views:
                if isinstance(seen.event, Open):
                    made = self._onchain_intent(row, seen, ref)
                    if made is not None:
                        created.append(made)
                        local[made[2].id] = made[2]
                        self._early_fills(made[2], row, local, changes)
                continue
            for view in views:
                self._decide(view, row, seen, local, changes)
        def insert() -> None:
            _store.insert_intents([(f, t, ev) for f, t, _, ev in created])
        news = self._commit(changes, cursor={"last_event_id": rows[-1].id},
                            also=insert if created else None,
                            created=[(view, first) for _, first, view, _ in created])
        self._tell_voided(news, changes)
        return len(changes) + len(created)

    # ---- Solana destinations: memo-tagged SPL transfers ------------------------------
    def _catch_up_solana(self) -> int:
        """Apply ``solana_transfer`` rows that carry an order id, in id order (the order the
        watcher indexed them: chain order), from the book's own cursor: the first proving
        transfer of an OPENED intent makes it FILLED, one with other terms is a foreign
        fill entry, any later one changes nothing (one fill per order)."""
        applied, conflicts = 0, 0
        while True:
            with self.store.connection():
                rows = list(SolanaTransfer.select().where(
                    (SolanaTransfer.id > self.solana_cursor) & (SolanaTransfer.order_id != ""))
                    .order_by(SolanaTransfer.id).limit(_PAGE))
            if not rows:
                return applied
            changes: list[Change] = []
            local: dict[str, IntentView] = {}
            for row in rows:
                self._solana_row(row, local, changes)
            try:
                self._commit(changes, also=functools.partial(self.save_solana_cursor,
                                                             rows[-1].id))
            except _store.Conflict:
                conflicts += 1
                if conflicts > 3:
                    raise
                self._reload_active()
                continue
            self.solana_cursor = rows[-1].id
            applied += len(changes)
            if len(rows) < _PAGE:
                return applied

    def _solana_row(self, row: SolanaTransfer, local: dict, changes: list[Change]) -> None:
        ref = self._chain_ref(row.chain)
        if ref is None or ref.kind != SOLANA:
            return
        view = local.get(row.order_id) or self._view(row.order_id)
        if view is None or view.destination_chain_id != ref.chain_id:
            return    # not an intent of this book, or not to this chain: not evidence
        evidence = SolanaEvidence(row.chain, int(row.slot), row.signature, int(row.id))
        self._decide(view, evidence, solana_located(row, ref.chain_id), local, changes)

    def _decide(self, view: IntentView, row, seen: Located, local: dict, changes: list[Change]) -> None:
        """Judge ``row`` for ``view`` and queue what it records (updating ``local``)."""
        dest = self._dest_name(seen) if isinstance(seen.event, Open) else None
        decision = decide(view, self._terms(view), seen, row.tx_hash, row.chain, dest)
        if decision.status is None:
            if decision.ignored and row.name in ("Filled", "Open"):
                log.info("chain event ignored", extra={"intent": view.id, "event": row.name,
                                                      "why": decision.ignored})
            return
        changes.append(Change(view, decision.status, decision.reason, decision.fields,
                              decision.solver, row, decision.finding))
        fields = {k: v for k, v in decision.fields.items() if k in view.__dataclass_fields__}
        local[view.id] = new = replace(view, status=decision.status, version=view.version + 1,
                                       **fields)
        if decision.status is Status.OPENED and view.status is not Status.OPENED:
            self._early_fills(new, row, local, changes)

    def _terms(self, view: IntentView) -> Terms:
        try:
            dest = self.directory.chain_by_id(view.destination_chain_id)
        except LookupError:   # no destination configured: no fill can prove anything
            return intent_terms(view, "0x" + "00" * 20)
        return intent_terms(view, dest.settler or "0x" + "00" * 20, dest.kind)

    def _dest_name(self, seen: Located) -> str | None:
        try:
            return self.directory.chain_by_id(Terms.from_open(seen).destination_chain_id).name
        except (LookupError, ValueError):
            return None

    def _chain_ref(self, name: str):
        for ref in self.directory.chains:
            if ref.name == name:
                return ref
        return None

    def _event_views(self, row, seen: Located, local: dict) -> list[IntentView]:
        """The intents ``row`` may be evidence for (the rule judges each): the intent of its
        order id; for a nonce invalidation, which names a user and no order id, every
        active intent of that user on the event's chain (Permit2's one mask can burn
        several nonces: one event, several intents), in id order."""
        ev = seen.event
        if isinstance(ev, (NonceInvalidated, UnorderedNonceInvalidation)):
            user = ev.user if isinstance(ev, NonceInvalidated) else ev.owner
            ids = set(self.active.of_user(user))
            ids.update(k for k, v in local.items() if v.user.lower() == user.lower())
            views = [local.get(k) or self.active[k] for k in sorted(ids)]
            return [v for v in views if v.origin_chain_id == seen.chain_id]
        if not row.order_id:
            return []
        if row.order_id in local:
            return [local[row.order_id]]
        view = self._view(row.order_id)
        return [] if view is None else [view]

    def _onchain_intent(self, row, seen: Located, ref):
        if not ref.settler or seen.emitter.lower() != ref.settler.lower():
            return None   # only the chain's own settler opens intents
        dest = self._dest_name(seen)
        try:
            if dest is None:
                raise ValueError("destination chain not configured")
            fields = onchain_intent_fields(seen, ref.name, dest)
        except ValueError as exc:   # an Open we cannot follow is not an intent
            log.warning("Open event not understood", extra={"order_id": row.order_id, "error": str(exc)})
            return None
        now = self.clock.wall()
        fields |= {"id": row.order_id, "status": Status.OPENED.value, "version": 1, "nonce": None,
                   "source": "onchain", "created_at": now, "updated_at": now}
        first = TransitionView(1, None, Status.OPENED, now, "opened on chain", "", row.chain,
                               row.block_number, row.block_hash, row.tx_hash, row.log_index)
        view = IntentView(**{k: v for k, v in fields.items() if k != "status"}, status=Status.OPENED)
        return fields, first, view, row.id

    def _early_fills(self, view: IntentView, open_row, local: dict, changes: list[Change]) -> None:
        """Fills indexed before the Open (the destination's watcher ran ahead): judged now
        that the escrow's terms are known, in index order (the proving one makes FILLED,
        foreign ones are recorded)."""
        try:
            dest = self.directory.chain_by_id(view.destination_chain_id)
        except LookupError:
            dest = None
        if dest is not None and dest.kind == SOLANA:
            with self.store.connection():   # the transfers the book has passed already
                early = list(SolanaTransfer.select().where(
                    (SolanaTransfer.chain == dest.name) & (SolanaTransfer.order_id == view.id)
                    & (SolanaTransfer.id <= self.solana_cursor)).order_by(SolanaTransfer.id))
            for srow in early:
                self._solana_row(srow, local, changes)
            return
        with self.store.connection():
            # Every Filled indexed before this Open (earlier pages, or earlier in this one:
            # those were skipped while the intent was not OPENED yet); later ones come next.
            fills = list(ChainEvent.select().where((ChainEvent.order_id == view.id) &
                                                   (ChainEvent.name == "Filled") &
                                                   (ChainEvent.id < open_row.id)).order_by(ChainEvent.id))
        for row in fills:
            ref = self._chain_ref(row.chain)
            if ref is None:
                continue
            try:
                seen = row.located(ref.chain_id)
            except ValueError:
                continue
            self._decide(local.get(view.id, view), row, seen, local, changes)

    def _tell_voided(self, news: list[IntentView], changes: list[Change]) -> None:
        """A conflicting open voids the award: the winner hears it at once (LostWork), so a
        solver that has not filled yet does not fill (its session also gets the update)."""
        for c in changes:
            if c.finding == CONFLICTING_OPEN and c.solver:
                for s in list(self.sessions.values()):
                    if s.solver == c.solver:
                        self._tell(s.path, LostWork(c.view.id, 0, c.reason))

    # ---- backward (reorgs) ----------------------------------------------------------
    def _revert_reorged(self) -> None:
        gone = (ChainEvent.select(fn.COUNT(ChainEvent.id)).where(ChainEvent.id == IntentTransition.event_id))
        with self.store.connection():
            lost = list(IntentTransition.select().where(
                IntentTransition.event_id.is_null(False) & (IntentTransition.reverted == False)  # noqa: E712
                & (gone == 0)).order_by(IntentTransition.intent, IntentTransition.version))
        by_intent: dict[str, list[IntentTransition]] = {}
        for t in lost:
            by_intent.setdefault(t.intent, []).append(t)
        changes: list[Change] = []
        for intent_id, ts in by_intent.items():
            with self.store.connection():
                view = _store.load_view(intent_id, history=False)
                row = IntentRow.get_or_none(IntentRow.id == intent_id)
            if view is None:
                continue
            moved = [t for t in ts if t.from_status != t.status]
            if not moved:   # only entries that changed nothing (foreign fills) were lost
                t = ts[0]
                changes.append(Change(view, view.status,
                                      f"reorg on {t.chain} removed the evidence at block "
                                      f"{t.block_number} of an earlier entry "
                                      f"({t.finding or t.status})"))
                continue
            t = moved[0]
            target = Status(t.from_status) if t.from_status else Status.FAILED
            fields = {"fill_tx": "", "fill_chain": "", "fill_block": 0, "filler": "",
                      "fill_amount": 0, "shortfall": 0} \
                if target in (Status.PENDING, Status.ASSIGNED, Status.OPENED) else {}
            if any(x.finding == CONFLICTING_OPEN for x in ts) and row is not None and row.typed_data:
                # The conflicting open is gone: the intent is the signed order again. Its
                # award was void, so it goes back to the auction.
                signed = _signed_terms(row)
                try:
                    signed["destination_chain"] = self.directory.chain_by_id(
                        signed["destination_chain_id"]).name
                except LookupError:
                    signed = {}   # validated at submission; a reload removed the chain
                fields |= signed | {"solver": "", "awarded_amount": 0,
                                    "exclusivity_deadline": 0.0}
                if target is Status.ASSIGNED:
                    target = Status.PENDING
            why = (f"reorg on {t.chain} removed the evidence at block {t.block_number} "
                   f"({t.status}); back to {target.value}")
            changes.append(Change(view, target, why, fields))
        if not changes:
            return
        def mark() -> None:
            IntentTransition.update(reverted=True).where(
                IntentTransition.id.in_([t.id for t in lost])).execute()
        news = self._commit(changes, also=mark)
        for new in news:
            log.warning("intent moved back by a reorg", extra={"intent": new.id, "status": new.status.value})
            if new.status is Status.ASSIGNED:
                self._arm_exclusivity(new)
            elif new.status is Status.PENDING:
                self._start_auction(new)


def _signed_terms(row: IntentRow) -> dict:
    """The row fields of the order the user signed (as stored at submission)."""
    o = parse_order_typed_data(row.typed_data)
    return {"user": o.user, "input_token": o.order.input_token, "input_amount": o.order.input_amount,
            "output_token": o.order.output_token, "min_output": o.order.output_amount,
            "recipient": o.order.recipient, "destination_chain_id": o.order.destination_chain_id,
            "open_deadline": o.open_deadline, "fill_deadline": o.fill_deadline}


__all__ += ["IntentRow"]
