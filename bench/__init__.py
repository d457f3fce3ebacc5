"""Benchmarks of the runtime: ``python -m bench`` runs every ``bench/bench_*.py``.

Each module exposes ``run() -> list[Row]``; a figure is printed next to a *ceiling* measured
in the same run on the same machine (bare pykka, a bare start, ...), so the ratio means
something on a laptop and on CI alike, and next to its target.
"""

from ._table import Row, print_table

__all__ = ["Row", "print_table"]
