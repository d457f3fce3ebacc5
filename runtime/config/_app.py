"""What plugs into the runtime: config sections and the children of each group.

The tree's shape is the product contract (SPEC section 1): ``root`` holds ``store``, the
groups ``chains``, ``intents`` (with the dynamic ``intents/solvers``), ``funding``,
``rebalance``, and the services ``quoter``, ``keeper``, ``alerts``. Actor kinds add their
config section and a provider that turns the config into child specs of a group; the
runtime itself knows nothing of what those children do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable

from .._spec import ChildSpec, Strategy, SupervisorSpec
from .._supervisor import Supervisor
from ._model import Config, GroupSupervision

__all__ = ["App", "GROUPS", "Provider"]

Provider = Callable[[Config], Iterable[ChildSpec]]

# group path -> (default strategy, order of well-known children)
GROUPS: dict[str, tuple[Strategy, tuple[str, ...]]] = {
    "root": (Strategy.ONE_FOR_ONE, ("store", "chains", "intents", "funding", "rebalance",
                                    "quoter", "keeper", "alerts")),
    "chains": (Strategy.ONE_FOR_ONE, ()),
    "intents": (Strategy.REST_FOR_ONE, ("book", "attester", "solvers")),
    "intents/solvers": (Strategy.ONE_FOR_ONE, ()),
    "funding": (Strategy.ONE_FOR_ONE, ()),
    "rebalance": (Strategy.ONE_FOR_ONE, ()),
}


@dataclass
class App:
    """Sections (name -> dataclass) and providers (group -> functions returning children)."""

    sections: dict[str, type] = field(default_factory=dict)
    providers: dict[str, list[Provider]] = field(default_factory=dict)
    migrations: list[Any] = field(default_factory=list)     # runtime.store.Migration
    services: list[Callable[[Any], Any]] = field(default_factory=list)  # node -> Service
    # AdminService methods served by actor kinds: method name -> fn(node, request) -> reply
    admin_methods: dict[str, Callable[[Any, Any], Any]] = field(default_factory=dict)

    def migration(self, migration: Any) -> None:
        self.migrations.append(migration)

    def service(self, factory: Callable[[Any], Any]) -> None:
        """Register a gRPC service: ``factory(node)`` returns (name, add_fn, servicer)."""
        self.services.append(factory)

    def admin(self, method: str, fn: Callable[[Any, Any], Any]) -> None:
        """Serve ``AdminService/<method>`` with blocking ``fn(node, request)`` (auth and
        status mapping are the runtime's); without one the method is UNIMPLEMENTED."""
        if method in self.admin_methods:
            raise ValueError(f"admin method {method!r} registered twice")
        self.admin_methods[method] = fn

    def section(self, name: str, schema: type) -> None:
        if name in self.sections or name in ("node", "database", "supervision"):
            raise ValueError(f"config section {name!r} declared twice")
        self.sections[name] = schema

    def provide(self, group: str) -> Callable[[Provider], Provider]:
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; groups: {', '.join(GROUPS)}")

        def register(fn: Provider) -> Provider:
            self.providers.setdefault(group, []).append(fn)
            return fn
        return register

    def tree(self, config: Config) -> SupervisorSpec:
        """The root supervisor's spec for ``config`` (pure: same config, equal spec)."""
        return self._group("root", config)

    def _group(self, path: str, config: Config) -> SupervisorSpec:
        strategy, order = GROUPS[path]
        sup = config.supervision.get(path) or GroupSupervision()
        children: list[ChildSpec] = []
        for sub in GROUPS:
            if sub != path and sub.rpartition("/")[0] == ("" if path == "root" else path) \
                    and sub != "root":
                cid = sub.rpartition("/")[2]
                children.append(ChildSpec(cid, Supervisor, self._group(sub, config),
                                          shutdown=3600.0))
        for provider in self.providers.get(path, []):
            for spec in provider(config):
                if spec.shutdown == ChildSpec.shutdown and not spec.is_supervisor:
                    spec = ChildSpec(spec.id, spec.actor, spec.config, spec.restart,
                                     sup.shutdown_timeout)
                children.append(spec)
        rank = {cid: i for i, cid in enumerate(order)}
        children.sort(key=lambda c: rank.get(c.id, len(order)))
        return SupervisorSpec(strategy=sup.strategy or strategy, intensity=sup.intensity,
                              period=sup.period, backoff=sup.backoff.to_backoff(),
                              children=tuple(children))
