"""The node's wiring: which actor kinds a node runs, in which supervision groups, and the
operator CLI (``orbital run | check-config | tree | reload``, :mod:`node.cli`).

It sits above the layers it wires (``actors``, ``chains``, ``runtime``, ``protocol``, and
``clients`` for the user commands of the same ``orbital`` script): nothing below imports it.
The tree's shape is the product contract (SPEC section 1): ``root`` holds ``store``, the
groups ``chains``, ``intents`` (with the dynamic ``intents/solvers``), ``funding``,
``rebalance``, and the services ``quoter``, ``keeper``, ``alerts``.
"""

from __future__ import annotations

import importlib

from runtime import Strategy
from runtime.config import App

__all__ = ["GROUPS", "KINDS", "new_app", "build_app"]

# group path -> (default strategy, order of its well-known children); parents first.
GROUPS: dict[str, tuple[Strategy, tuple[str, ...]]] = {
    "root": (Strategy.ONE_FOR_ONE, ("store", "chains", "intents", "funding", "rebalance",
                                    "quoter", "keeper", "alerts")),
    "chains": (Strategy.ONE_FOR_ONE, ()),
    # admission last: rest_for_one restarts what follows a crashed child, and the book and
    # sessions must not restart with it (the book re-checks when it is back)
    "intents": (Strategy.REST_FOR_ONE, ("book", "attester", "solvers", "admission")),
    "intents/solvers": (Strategy.ONE_FOR_ONE, ()),
    "funding": (Strategy.ONE_FOR_ONE, ()),
    "rebalance": (Strategy.ONE_FOR_ONE, ()),
}

# Kind packages under actors/, in the order they are installed.
KINDS: tuple[str, ...] = (
    "chain_watcher", "keeper", "book", "admission", "attester", "solvers", "in_house_solver",
    "quoter", "alerts", "rebalance", "bridge_relayer", "funding", "analytics",
)


def new_app() -> App:
    """An :class:`App` with the product's groups and no kinds (tests install the kinds
    they need into it)."""
    app = App()
    for path, (strategy, order) in GROUPS.items():
        app.group(path, strategy, order)
    return app


def build_app(kinds: tuple[str, ...] = KINDS) -> App:
    """The node: the groups and every kind of ``kinds`` installed."""
    app = new_app()
    for name in kinds:
        importlib.import_module(f"actors.{name}").install(app)
    return app
