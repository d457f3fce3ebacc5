"""``python -m bench [name ...]``: run every bench module (or those named), print one table.

A module is any ``bench/bench_<name>.py`` with ``run() -> list[Row]``; adding a file is
all it takes to register one. Exits 1 if a figure missed its target.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

from . import __path__ as _bench_path
from ._table import Row, print_table


def modules(selected: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules(_bench_path)
                   if m.name.startswith("bench_"))
    if selected:
        wanted = {s if s.startswith("bench_") else f"bench_{s}" for s in selected}
        unknown = wanted - set(names)
        if unknown:
            sys.exit(f"unknown bench module(s): {', '.join(sorted(unknown))}; "
                     f"have: {', '.join(names)}")
        names = [n for n in names if n in wanted]
    return names


def main(argv: list[str]) -> int:
    rows: list[Row] = []
    began = time.perf_counter()
    for name in modules(argv):
        t0 = time.perf_counter()
        module = importlib.import_module(f"{__package__}.{name}")
        rows.extend(module.run())
        print(f"# {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print_table(rows)
    print(f"\n{len(rows)} figures in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
