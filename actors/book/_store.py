"""Reading and writing the book's tables: rows <-> views, batched inserts, guarded updates.

Writes happen only on the book's thread; reads also from the gRPC services. Every
update of an intent is guarded by its version (``WHERE version = old``), so two writers
(two nodes on one database) can never both apply a transition: the loser sees
:class:`Conflict`, rolls back and re-reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import peewee

from ._models import IntentRow, IntentTransition
from ._views import IntentUpdateView, IntentView, Status, TransitionView

__all__ = ["Conflict", "fill_times", "row_view", "transition_view", "load_view", "load_views",
           "insert_intents", "write_transition", "history_of",
           "last_transition_id", "transitions_after"]


class Conflict(Exception):
    """The intent changed under us (another writer): re-read and try again."""


def transition_view(t: IntentTransition) -> TransitionView:
    return TransitionView(
        version=t.version, from_status=Status(t.from_status) if t.from_status else None,
        status=Status(t.status), at=t.at, reason=t.reason, solver=t.solver, chain=t.chain,
        block_number=t.block_number, block_hash=t.block_hash, tx_hash=t.tx_hash,
        log_index=t.log_index, finding=t.finding)


def row_view(r: IntentRow, history: Sequence[TransitionView] = ()) -> IntentView:
    return IntentView(
        id=r.id, status=Status(r.status), version=r.version, user=r.user, nonce=r.nonce,
        origin_chain=r.origin_chain, origin_chain_id=r.origin_chain_id,
        destination_chain=r.destination_chain, destination_chain_id=r.destination_chain_id,
        origin_settler=r.origin_settler, input_token=r.input_token,
        input_amount=r.input_amount, output_token=r.output_token, min_output=r.min_output,
        recipient=r.recipient, open_deadline=r.open_deadline, fill_deadline=r.fill_deadline,
        source=r.source, created_at=r.created_at, updated_at=r.updated_at, solver=r.solver,
        awarded_amount=r.awarded_amount or 0, exclusivity_deadline=r.exclusivity_deadline,
        fill_amount=r.fill_amount or 0, shortfall=r.shortfall or 0, history=tuple(history),
        wallet_digest=r.wallet_digest or "",
        wallet_signature=r.signature if r.wallet_digest else "")


def history_of(ids: Iterable[str]) -> dict[str, list[TransitionView]]:
    out: dict[str, list[TransitionView]] = {}
    ids = list(ids)
    if not ids:
        return out
    q = (IntentTransition.select().where(IntentTransition.intent.in_(ids))
         .order_by(IntentTransition.intent, IntentTransition.version))
    for t in q:
        out.setdefault(t.intent, []).append(transition_view(t))
    return out


def load_view(intent_id: str, *, history: bool = True) -> IntentView | None:
    row = IntentRow.get_or_none(IntentRow.id == intent_id)
    if row is None:
        return None
    return row_view(row, history_of([intent_id]).get(intent_id, []) if history else ())


def load_views(rows: Sequence[IntentRow], *, history: bool = True) -> list[IntentView]:
    hist = history_of(r.id for r in rows) if history else {}
    return [row_view(r, hist.get(r.id, [])) for r in rows]


def _transition_row(intent_id: str, t: TransitionView, event_id: int | None) -> dict:
    return {"intent": intent_id, "version": t.version,
            "from_status": t.from_status.value if t.from_status else "", "status": t.status.value,
            "at": t.at, "reason": t.reason, "solver": t.solver, "chain": t.chain,
            "block_number": t.block_number, "block_hash": t.block_hash, "tx_hash": t.tx_hash,
            "log_index": t.log_index, "event_id": event_id, "finding": t.finding}


class _Insert:
    """A multi-row INSERT of one model, its SQL built once per row count: peewee's
    ``insert_many`` builds the SQL and converts every value through its query builder each
    time (~0.1-0.25 ms a row); here each row is one list comprehension over the columns'
    ``db_value``, and the whole batch is one statement (on SQLite one step, so one GIL
    release, instead of one per row; on PostgreSQL one round trip instead of one per row).
    Columns a row leaves out take the model's default, as with peewee; a key that is not a
    column is a bug (KeyError).
    """

    CHUNK = 500   # rows per statement: 500 x 31 columns stays under SQLite's 32,766 variables

    def __init__(self, model: type[peewee.Model]) -> None:
        fields = [f for f in model._meta.sorted_fields if not isinstance(f, peewee.AutoField)]
        self.table = model._meta.table_name
        self.names = [f.name for f in fields]
        self.known = frozenset(self.names)
        self.head = f'INSERT INTO "{self.table}" (' + ", ".join(f'"{f.column_name}"' for f in fields) \
            + ") VALUES "
        self.convert = [(f.name, f.db_value,
                         f.default() if callable(f.default) else f.default) for f in fields]
        self._sql: dict[tuple[bool, int], str] = {}

    def statements(self, rows: Sequence[dict], postgres: bool) -> list[tuple[str, list]]:
        for r in rows:
            if not r.keys() <= self.known:
                raise KeyError(f"{self.table}: not columns: {sorted(r.keys() - self.known)}")
        out = []
        for at in range(0, len(rows), self.CHUNK):
            chunk = rows[at:at + self.CHUNK]
            params = [conv(r.get(name, default)) for r in chunk for name, conv, default in self.convert]
            out.append((self._statement(postgres, len(chunk)), params))
        return out

    def _statement(self, postgres: bool, n: int) -> str:
        sql = self._sql.get((postgres, n))
        if sql is None:
            one = "(" + ", ".join(["%s" if postgres else "?"] * len(self.names)) + ")"
            sql = self._sql[(postgres, n)] = self.head + ", ".join([one] * n)
        return sql


_insert_intent = _Insert(IntentRow)
_insert_transition = _Insert(IntentTransition)


def _database() -> peewee.Database:
    db = IntentRow._meta.database
    if isinstance(db, peewee.DatabaseProxy):   # this thread's (runtime.store.database)
        return db.target() if hasattr(db, "target") else db.obj
    return db


def _statements(items: Sequence[tuple[dict, TransitionView, int | None]],
                postgres: bool) -> list[tuple[str, list]]:
    return (_insert_intent.statements([fields for fields, _, _ in items], postgres)
            + _insert_transition.statements([_transition_row(f["id"], t, ev) for f, t, ev in items],
                                            postgres))


def _execute(db: peewee.Database, statements: list[tuple[str, list]]) -> None:
    cursor = db.cursor()
    try:
        # driver errors as peewee's (IntegrityError); peewee has no type information
        with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
            for sql, params in statements:
                cursor.execute(sql, params)
    finally:
        cursor.close()


def insert_intents(items: Sequence[tuple[dict, TransitionView, int | None]]) -> None:
    """New intents: (intent row fields, first transition, evidence event id), in the
    caller's transaction. Raises peewee.IntegrityError when an id or a (chain, user, nonce)
    is taken."""
    if items:
        db = _database()
        _execute(db, _statements(items, isinstance(db, peewee.PostgresqlDatabase)))


_FILLED = (Status.FILLED, Status.SETTLED)
_BEFORE_FILL = (Status.PENDING, Status.ASSIGNED, Status.OPENED)


def fill_times(frm: Status | None, to: Status, at: float) -> dict:
    """The ``filled_at`` / ``settled_at`` a transition ``frm -> to`` at ``at`` sets on the
    intent row, as the history defines them (``FILL_ENTRY``, ``SETTLE_ENTRY``): the fill's
    time when it becomes FILLED (not from SETTLED: a settlement reorged away leaves the fill
    standing), the settlement's when it becomes SETTLED; cleared when a reorg moves it back
    before the fill, or away from SETTLED."""
    out: dict = {}
    if to is frm:
        return out   # an entry that records a finding moves nothing
    if to is Status.FILLED and frm not in _FILLED:
        out["filled_at"] = at
    elif to in _BEFORE_FILL and frm in _FILLED:
        out["filled_at"] = None
    if to is Status.SETTLED:
        out["settled_at"] = at
    elif frm is Status.SETTLED:
        out["settled_at"] = None
    return out


def write_transition(intent_id: str, old_version: int, t: TransitionView, fields: dict,
                     event_id: int | None) -> None:
    """Apply one transition: guarded row update + history row. Raises Conflict."""
    fields = {**fields, **fill_times(t.from_status, t.status, t.at), "status": t.status.value,
              "version": t.version, "updated_at": t.at}
    n = IntentRow.update(**fields).where((IntentRow.id == intent_id) &
                                         (IntentRow.version == old_version)).execute()
    if n != 1:
        raise Conflict(intent_id)
    IntentTransition.insert(**_transition_row(intent_id, t, event_id)).execute()


# ---- the committed transitions, in commit order (a following book tails them) ----------
def last_transition_id() -> int:
    """The id of the last committed transition (0: none). Inside the book's fenced
    transaction it is the id of the book's own last write: the book is the only writer."""
    return int(IntentTransition.select(peewee.fn.MAX(IntentTransition.id)).scalar() or 0)


def transitions_after(cursor: int, limit: int = 500) -> list[tuple[int, IntentUpdateView]]:
    """The transitions committed after ``cursor`` (a transition id), oldest first, at most
    ``limit``: (id, the update as the book announced it: the intent as of that version).

    ``intent_transition.id`` is in commit order: every transition is written by the book
    holding the ``book`` lease, one fenced transaction at a time, and a new holder's first
    write commits after the last of the old holder's (the fence locks the lease row until
    commit, so the take-over waits for it). So a reader that moves its cursor to the last
    id it saw never skips a row committed later with a smaller id. The fields of the
    intent other than its status and version are those of its row now (as a resumed watch
    stream shows them)."""
    ts = list(IntentTransition.select().where(IntentTransition.id > cursor)
              .order_by(IntentTransition.id).limit(limit))
    if not ts:
        return []
    rows = {r.id: r for r in IntentRow.select().where(IntentRow.id.in_(list({t.intent for t in ts})))}
    out: list[tuple[int, IntentUpdateView]] = []
    for t in ts:
        r = rows.get(t.intent)
        if r is None:
            continue   # an intent row is inserted with its first transition: never
        tv = transition_view(t)
        view = replace(row_view(r), status=tv.status, version=tv.version, updated_at=tv.at)
        out.append((t.id, IntentUpdateView(view, tv)))
    return out
