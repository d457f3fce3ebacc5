"""The book's side of chain indexing: apply ``chain_event`` rows in id order, undo reorgs.

The chain watcher's notifications are only a nudge: the book reads ``chain_event`` from
its persisted cursor (``book_cursor``), so a missed or duplicated notification, a book
restart or a crash in the middle changes nothing; the cursor moves in the same
transaction as the transitions it caused.

Reorgs: a transition whose evidence row has disappeared from ``chain_event`` (the watcher
deletes rolled-back events) is undone by a new transition back to the status before it,
announced like any other; when the chain re-indexes the event, it applies again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from peewee import fn

from actors.evm.models import ChainEvent

from . import _store
from ._chain import decide, destination_of, onchain_intent_fields
from ._models import BookCursor, IntentRow, IntentTransition
from ._views import IntentView, Status, TransitionView

__all__ = ["EventsMixin"]

log = logging.getLogger("orbital.book")

CURSOR = "chain_events"
_PAGE = 500


class EventsMixin:
    """Mixed into the Book actor (uses its store, directory, clock, active, _commit)."""

    def setup_events(self) -> None:
        with self.store.connection():
            row = BookCursor.get_or_none(BookCursor.name == CURSOR)
        self.event_cursor = row.last_event_id if row is not None else 0
        self.catch_up(reorg=True)

    def save_cursor(self, last_event_id: int) -> None:
        n = BookCursor.update(last_event_id=last_event_id).where(BookCursor.name == CURSOR).execute()
        if n == 0:
            BookCursor.insert(name=CURSOR, last_event_id=last_event_id).on_conflict_ignore().execute()
        self.event_cursor = last_event_id

    # ---- forward --------------------------------------------------------------------
    def catch_up(self, reorg: bool = False) -> int:
        if reorg:
            self._revert_reorged()
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
        changes, created, local = [], [], {}
        for row in rows:
            ref = self._chain_ref(row.chain)
            if ref is None:
                continue
            view = self._event_view(row, ref.chain_id, local)
            if view is None:
                if row.name == "Open" and row.order_id:
                    made = self._onchain_intent(row, ref)
                    if made is not None:
                        created.append(made)
                        local[made[2].id] = made[2]
                        changes.extend(self._early_fills(made[2], row, local))
                continue
            decision = decide(row, view, ref.chain_id)
            if decision.status is None:
                if decision.ignored and row.name in ("Filled", "Open"):
                    log.info("chain event ignored", extra={"intent": view.id, "event": row.name,
                                                          "why": decision.ignored})
                continue
            changes.append((view, decision.status, decision.fields, decision.reason, "", row))
            local[view.id] = replace(view, status=decision.status, version=view.version + 1)
            if decision.status is Status.OPENED:
                changes.extend(self._early_fills(local[view.id], row, local))
        def insert() -> None:
            _store.insert_intents([(f, t, ev) for f, t, _, ev in created])
        self._commit(changes, cursor={"last_event_id": rows[-1].id},
                     also=insert if created else None,
                     created=[(view, first) for _, first, view, _ in created])
        return len(changes) + len(created)

    def _chain_ref(self, name: str):
        for ref in self.directory.chains:
            if ref.name == name:
                return ref
        return None

    def _event_view(self, row, chain_id: int, local: dict) -> IntentView | None:
        if row.name == "NonceInvalidated":
            a = json.loads(row.args)
            for v in [*local.values(), *self.active.values()]:
                if v.origin_chain_id == chain_id and v.user == a["user"] and v.nonce == int(a["nonce"]):
                    return local.get(v.id, v)
            return None
        if not row.order_id:
            return None
        if row.order_id in local:
            return local[row.order_id]
        return self._view(row.order_id)

    def _onchain_intent(self, row, ref):
        try:
            dest = self.directory.chain_by_id(destination_of(row))
            fields = onchain_intent_fields(row, ref.name, dest.name)
        except Exception as exc:  # noqa: BLE001 - an Open we cannot read is not an intent
            log.warning("Open event not understood", extra={"order_id": row.order_id, "error": str(exc)})
            return None
        now = self.clock.wall()
        fields |= {"id": row.order_id, "status": Status.OPENED.value, "version": 1,
                   "created_at": now, "updated_at": now}
        first = TransitionView(1, None, Status.OPENED, now, "opened on chain", "", row.chain,
                               row.block_number, row.block_hash, row.tx_hash, row.log_index)
        view = IntentView(**{k: v for k, v in fields.items() if k != "status"}, status=Status.OPENED)
        return fields, first, view, row.id

    def _early_fills(self, view: IntentView, open_row, local: dict) -> list[tuple]:
        """A Filled indexed before the Open (the destination's watcher ran ahead)."""
        with self.store.connection():
            # Every Filled indexed before this Open (earlier pages, or earlier in this one:
            # those were skipped while the intent was not OPENED yet); later ones come next.
            fills = list(ChainEvent.select().where((ChainEvent.order_id == view.id) &
                                                   (ChainEvent.name == "Filled") &
                                                   (ChainEvent.id < open_row.id)).order_by(ChainEvent.id))
        for row in fills:
            ref = self._chain_ref(row.chain)
            decision = decide(row, view, ref.chain_id) if ref is not None else None
            if decision is not None and decision.status is Status.FILLED:
                local[view.id] = replace(view, status=Status.FILLED, version=view.version + 1)
                return [(view, Status.FILLED, decision.fields, decision.reason, "", row)]
        return []

    # ---- backward (reorgs) ----------------------------------------------------------
    def _revert_reorged(self) -> None:
        gone = (ChainEvent.select(fn.COUNT(ChainEvent.id)).where(ChainEvent.id == IntentTransition.event_id))
        with self.store.connection():
            lost = list(IntentTransition.select().where(
                IntentTransition.event_id.is_null(False) & (IntentTransition.reverted == False)  # noqa: E712
                & (gone == 0)).order_by(IntentTransition.intent, IntentTransition.version))
        first_lost: dict[str, IntentTransition] = {}
        for t in lost:
            first_lost.setdefault(t.intent, t)
        changes = []
        for intent_id, t in first_lost.items():
            with self.store.connection():
                view = _store.load_view(intent_id, history=False)
            if view is None:
                continue
            target = Status(t.from_status) if t.from_status else Status.FAILED
            fields = {"fill_tx": "", "fill_chain": "", "fill_block": 0, "filler": ""} \
                if target in (Status.PENDING, Status.ASSIGNED, Status.OPENED) else {}
            why = (f"reorg on {t.chain} removed the evidence at block {t.block_number} "
                   f"({t.status}); back to {target.value}")
            changes.append((view, target, fields, why, "", None))
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


__all__ += ["IntentRow"]
