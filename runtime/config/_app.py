"""What plugs into the runtime: supervision groups, config sections and the children of
each group.

The runtime knows one group, ``root``. The node's wiring (package ``node``) declares the
product's groups (:meth:`App.group`: path, default strategy, order of well-known
children); actor kinds add their config section and a provider that turns the config into
child specs of a group. The runtime knows nothing of what those groups and children are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable

from .._spec import ChildSpec, Strategy, SupervisorSpec
from .._supervisor import Supervisor
from ._model import Config, GroupSupervision

__all__ = ["App", "KeyedError", "Provider", "SectionCheck"]

Provider = Callable[[Config], Iterable[ChildSpec]]
SectionCheck = Callable[[Any], None]


class KeyedError(ValueError):
    """Raised by a section check about one key of the section (``key`` dotted, relative to the
    section: ``evm-a.chain_id``), so the loader reports that key's file:line."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass
class App:
    """Groups (path -> default strategy and order of well-known children), sections (name ->
    dataclass) and providers (group -> functions returning children)."""

    groups: dict[str, tuple[Strategy, tuple[str, ...]]] = field(
        default_factory=lambda: {"root": (Strategy.ONE_FOR_ONE, ())})
    sections: dict[str, type] = field(default_factory=dict)
    # checks of a whole section's built value, for sections that are not dataclasses (a
    # mapping of entries: rules across entries, such as ids unique among them)
    section_checks: dict[str, SectionCheck] = field(default_factory=dict)
    providers: dict[str, list[Provider]] = field(default_factory=dict)
    migrations: list[Any] = field(default_factory=list)     # runtime.store.Migration
    services: list[Callable[[Any], Any]] = field(default_factory=list)  # node -> Service
    # AdminService methods served by actor kinds: method name -> fn(node, request) -> reply
    admin_methods: dict[str, Callable[[Any, Any], Any]] = field(default_factory=dict)

    def group(self, path: str, strategy: Strategy = Strategy.ONE_FOR_ONE,
              order: tuple[str, ...] = ()) -> None:
        """Declare the supervision group ``path`` (``root`` or ``a/b``: its parent first),
        its default strategy and the order of its well-known children (others follow)."""
        parent = path.rpartition("/")[0]
        if path != "root" and parent and parent not in self.groups:
            raise ValueError(f"group {path!r}: declare its parent {parent!r} first")
        if path in self.groups and path != "root":
            raise ValueError(f"group {path!r} declared twice")
        self.groups[path] = (strategy, tuple(order))

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

    def section(self, name: str, schema: type, check: SectionCheck | None = None) -> None:
        """Declare section ``name`` built as ``schema``; ``check(value)``, if given, runs on
        the built value at load and raises ValueError (or :class:`KeyedError` naming a key)."""
        if name in self.sections or name in ("node", "database", "supervision"):
            raise ValueError(f"config section {name!r} declared twice")
        self.sections[name] = schema
        if check is not None:
            self.section_checks[name] = check

    def provide(self, group: str) -> Callable[[Provider], Provider]:
        if group not in self.groups:
            raise ValueError(f"unknown group {group!r}; groups: {', '.join(self.groups)}")

        def register(fn: Provider) -> Provider:
            self.providers.setdefault(group, []).append(fn)
            return fn
        return register

    def tree(self, config: Config) -> SupervisorSpec:
        """The root supervisor's spec for ``config`` (pure: same config, equal spec)."""
        return self._group("root", config)

    def _group(self, path: str, config: Config) -> SupervisorSpec:
        strategy, order = self.groups[path]
        sup = config.supervision.get(path) or GroupSupervision()
        children: list[ChildSpec] = []
        for sub in self.groups:
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
