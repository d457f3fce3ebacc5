"""The Solana fill journal: every fill transaction is written here, durably, before it is sent.

Why a file and not memory: a Solana transaction is identified by its signature, fixed when
it is signed, and it can land until its blockhash expires. A solver that crashed (or lost
its session) after sending and before seeing the confirmation cannot tell, from memory,
whether it paid; a second transfer for the same order is money lost (the origin repays one
fill). So the signed bytes are recorded (fsync, atomic rename) before ``sendTransaction``,
and whoever runs the award next - a retried award, the solver after a restart - follows
that signature instead of building a new transfer: :mod:`solver._solana` makes a new one
only when the old blockhash has expired and the signature is proven unknown.

One JSON file per solver state dir (the reference solver runs one process per key); keys
are ``<chain id>:<order id>``. Small: one entry per Solana award ever executed.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["FillJournal", "FillRecord", "JOURNAL_FILE"]

JOURNAL_FILE = "solana-fills.json"

PENDING = "pending"      # signed and recorded; maybe sent, maybe landed
LANDED = "landed"        # landed without error at the chain's commitment: the fill
FAILED = "failed"        # landed with an error (nothing moved) or refused: may be re-made


@dataclass
class FillRecord:
    """The current transaction of one order's fill; ``replaced`` lists the signatures it
    replaced: proven never to land (blockhash expired unseen) or landed with an error (nothing
    moved). Kept for the record."""

    signature: str
    wire: str                 # base64 wire bytes, re-sent as they are
    blockhash: str
    last_valid_block_height: int
    amount: int
    recipient: str
    mint: str
    status: str = PENDING
    error: str = ""
    sent: bool = False        # a node accepted it once (then it is re-broadcast while valid)
    replaced: list[str] = field(default_factory=list)


class FillJournal:
    """Thread-safe; every :meth:`put` is on disk (fsync of the file and its directory)
    when it returns."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / JOURNAL_FILE
        self._lock = threading.Lock()

    def get(self, key: str) -> FillRecord | None:
        with self._lock:
            entry = self._read().get(key)
        return FillRecord(**entry) if entry is not None else None

    def put(self, key: str, record: FillRecord) -> None:
        with self._lock:
            doc = self._read()
            doc[key] = asdict(record)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".json.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _read(self) -> dict[str, dict]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        # A journal that cannot be read must stop fills, not be taken as empty (that would
        # re-pay every order it holds): json raises, and the award fails.
        if not isinstance(doc, dict):
            raise ValueError(f"{self.path}: not a fill journal")
        return doc
