"""One row per figure, one table for the whole run."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO
from collections.abc import Callable

__all__ = ["Row", "print_table", "percentile", "interleaved", "rate"]


@dataclass(frozen=True)
class Row:
    """A measured figure, the ceiling it is compared with, and the target it must meet.

    ``ok`` is decided by the bench module (targets differ: a ratio, a latency bound);
    ``ceiling`` is in the unit of ``figure`` and may be None when nothing compares.
    """

    benchmark: str
    figure: float
    unit: str
    ceiling: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.figure / self.ceiling if self.ceiling else None


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.3g} {unit}"


def print_table(rows: list[Row], out: TextIO = sys.stdout) -> None:
    head = ("benchmark", "figure", "ceiling", "ratio", "target", "met")
    body = [(r.benchmark, _num(r.figure, r.unit), _num(r.ceiling, r.unit),
             "-" if r.ratio is None else f"{r.ratio:.2f}", r.target,
             {True: "ok", False: "MISSED", None: ""}[r.ok]) for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]

    def line(cells) -> str:
        return " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    print(line(head), file=out)
    print("-+-".join("-" * w for w in widths), file=out)
    for cells in body:
        print(line(cells), file=out)
    notes = [f"  {r.benchmark}: {r.note}" for r in rows if r.note]
    if notes:
        print("\n".join(["", "notes:", *notes]), file=out)


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank: a p99 that is a real sample."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def interleaved(trials: int, **runs: Callable[[], float]) -> dict[str, list[float]]:
    """``trials`` samples of each run, alternating, so drift and noise hit all alike."""
    results: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(trials):
        for name, fn in runs.items():
            results[name].append(fn())
    return results


def rate(n: int, fn: Callable[[], None]) -> float:
    """Operations per second of ``fn`` doing ``n`` operations."""
    began = time.perf_counter()
    fn()
    return n / (time.perf_counter() - began)
