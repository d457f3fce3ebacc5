"""Actor kinds of Orbital, one module per kind, assembled into the node's :class:`App`.

Each kind module exposes ``install(app)``: it declares its config section, its migrations,
its gRPC services and a provider placing its actors in the tree (SPEC section 1).
"""

from __future__ import annotations

from runtime.config import App

__all__ = ["build_app", "KINDS"]

# Kind modules, in the order they are installed.
KINDS: tuple[str, ...] = (
    "chain_watcher", "keeper", "book", "attester", "solvers", "in_house_solver",
    "quoter", "alerts", "rebalance", "bridge_relayer", "funding",
)


def build_app() -> App:
    import importlib
    app = App()
    for name in KINDS:
        importlib.import_module(f"actors.{name}").install(app)
    return app
