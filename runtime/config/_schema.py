"""Turn located YAML into frozen dataclasses, once, at the edge.

Dataclass fields drive validation: their types (bool, int, float, str, :class:`Secret`,
Optional, list/tuple, dict[str, X], Literal, Enum, nested dataclasses, a union of
dataclasses told apart by a ``Literal`` tag field) and the bounds in
``field(metadata=...)`` made by :func:`opt` (``validate``: a function raising
``ValueError`` for a scalar the type alone cannot judge, e.g. a cron expression; the error
names that very key and line). A dataclass may add cross-field checks in a
``check(self)`` method raising ``ValueError``. Every error says file, line, key and what
was expected; unknown keys are errors (a typo must not silently become a default).
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from typing import Any

from .._errors import ConfigError
from .._logging import register_secret
from ._yaml import Located

__all__ = ["Secret", "opt", "build"]


class Secret(str):
    """A string that never shows itself in repr, logs or error messages."""

    def __repr__(self) -> str:
        return "Secret('***')"


def opt(default: Any = dataclasses.MISSING, *, min: float | None = None,
        max: float | None = None, pattern: str | None = None, doc: str = "",
        factory: Any = dataclasses.MISSING, validate: Any = None,
        inline_if: Any = None) -> Any:
    """A config field with its bounds. For a :class:`Secret`: ``inline_if(value)`` says when
    a value written inline in the file is no secret after all (a database URL without a
    password); otherwise a Secret must come from the environment (``${ENV_VAR}``)."""
    meta = {"min": min, "max": max, "pattern": pattern, "doc": doc, "validate": validate,
            "inline_if": inline_if}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def build(cls: type, loc: Located, file: str, key: str = "") -> Any:
    """Validate ``loc`` as ``cls``; raises :class:`ConfigError`."""
    return _Builder(file).value(cls, loc, key, {})


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, loc: Located, key: str, expected: str) -> typing.NoReturn:
        raise ConfigError(self.file, loc.line, key, expected)

    def value(self, tp: Any, loc: Located, key: str, meta: dict) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            if loc.value is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            if len(inner) > 1:
                return self.tagged(inner, loc, key)
            return self.value(inner[0], loc, key, meta)
        if origin is typing.Literal:
            if loc.value not in args:
                self.fail(loc, key, f"expected one of {', '.join(map(str, args))}, "
                                    f"got {loc.value!r}")
            return loc.value
        if origin in (list, tuple):
            if not isinstance(loc.value, list):
                self.fail(loc, key, f"expected a list, got {_kind(loc.value)}")
            item = args[0] if args else Any
            out = [self.value(item, v, f"{key}[{i}]", meta) for i, v in enumerate(loc.value)]
            return tuple(out) if origin is tuple else out
        if origin is dict:
            if loc.value is None:
                return {}
            if not isinstance(loc.value, dict):
                self.fail(loc, key, f"expected a mapping, got {_kind(loc.value)}")
            pattern = meta.get("pattern")
            mapping: dict[str, Any] = {}
            for name, v in loc.value.items():
                if pattern and not re.fullmatch(pattern, name):
                    self.fail(v, f"{key}.{name}", f"name must match {pattern}")
                mapping[name] = self.value(args[1], v, f"{key}.{name}", {})
            return mapping
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.dataclass(tp, loc, key)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            try:
                return tp(loc.value)
            except ValueError:
                self.fail(loc, key, "expected one of "
                          + ", ".join(str(m.value) for m in tp) + f", got {loc.value!r}")
        return self.scalar(tp, loc, key, meta)

    def scalar(self, tp: Any, loc: Located, key: str, meta: dict) -> Any:
        v = self._scalar(tp, loc, key, meta)
        validate = meta.get("validate")
        if validate is not None:
            try:
                validate(v)
            except ValueError as exc:
                self.fail(loc, key, str(exc))
        return v

    def _scalar(self, tp: Any, loc: Located, key: str, meta: dict) -> Any:
        v = loc.value
        if tp is Any:
            return _plain(loc)
        if tp is bool:
            if isinstance(v, str) and loc.interpolated and v.lower() in ("true", "false"):
                v = v.lower() == "true"
            if not isinstance(v, bool):
                self.fail(loc, key, f"expected true or false, got {v!r}")
            return v
        if tp in (int, float):
            if isinstance(v, str) and loc.interpolated:
                try:
                    v = tp(v)
                except ValueError:
                    pass
            ok = isinstance(v, int) and not isinstance(v, bool) or \
                (tp is float and isinstance(v, float))
            if not ok:
                self.fail(loc, key, f"expected {'an integer' if tp is int else 'a number'}, "
                                    f"got {_kind(v)} {v!r}")
            v = tp(v)
            lo, hi = meta.get("min"), meta.get("max")
            if lo is not None and v < lo:
                self.fail(loc, key, f"expected >= {lo}, got {v}")
            if hi is not None and v > hi:
                self.fail(loc, key, f"expected <= {hi}, got {v}")
            return v
        if tp in (str, Secret):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and tp is str:
                v = str(v)
            if not isinstance(v, str):
                self.fail(loc, key, f"expected a string, got {_kind(v)}")
            if tp is Secret and v and not loc.from_env:   # a ${X:-default} is inline too
                inline_ok = meta.get("inline_if")
                if not (inline_ok is not None and inline_ok(v)):
                    name = key.rsplit(".", 1)[-1]
                    self.fail(loc, key, "a secret written inline: put it in the environment "
                                        "and name it here, e.g. " + name + ": ${ORBITAL_"
                                        + name.upper() + "} (secrets are never inline)")
            pattern = meta.get("pattern")
            if pattern and not re.fullmatch(pattern, v):
                shown = "***" if tp is Secret else repr(v)
                self.fail(loc, key, f"expected a value matching {pattern}, got {shown}")
            if tp is Secret and meta.get("inline_if") is None:
                register_secret(v)   # redacted from every log line from now on
            return tp(v)
        raise TypeError(f"unsupported config type {tp!r} at {key}")

    def tagged(self, members: list[Any], loc: Located, key: str) -> Any:
        """A union of dataclasses told apart by a tag: the first field every member types
        as a ``Literal`` (e.g. ``kind: Literal["evm"]``). Left out, the tag is the first
        member's default, so a config written before a second member existed still reads."""
        if not all(isinstance(m, type) and dataclasses.is_dataclass(m) for m in members):
            raise TypeError(f"unsupported config union {members!r} at {key}")
        hints = [typing.get_type_hints(m) for m in members]
        tag = next((name for name in hints[0]
                    if all(typing.get_origin(h.get(name)) is typing.Literal for h in hints)),
                   None)
        if tag is None:
            raise TypeError(f"config union {members!r} at {key} has no Literal tag field")
        by_value = {v: m for m, h in zip(members, hints) for v in typing.get_args(h[tag])}
        if isinstance(loc.value, dict) and tag in loc.value:
            value = loc.value[tag].value
            if value not in by_value:
                self.fail(loc.value[tag], _join(key, tag), f"expected one of "
                          f"{', '.join(map(str, by_value))}, got {value!r}")
            return self.dataclass(by_value[value], loc, key)
        return self.dataclass(members[0], loc, key)

    def dataclass(self, cls: type, loc: Located, key: str) -> Any:
        if loc.value is None:
            loc = Located({}, loc.line)
        if not isinstance(loc.value, dict):
            self.fail(loc, key, f"expected a mapping, got {_kind(loc.value)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = set(loc.value) - set(fields)
        if unknown:
            name = sorted(unknown)[0]
            self.fail(loc.value[name], _join(key, name),
                      f"unknown key; expected one of: {', '.join(fields)}")
        kwargs = {}
        for name, f in fields.items():
            sub = _join(key, name)
            if name in loc.value:
                kwargs[name] = self.value(hints[name], loc.value[name], sub, dict(f.metadata))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.fail(loc, sub, "required key is missing")
        obj = cls(**kwargs)
        check = getattr(obj, "check", None)
        if check is not None:
            try:
                check()
            except ValueError as exc:
                self.fail(loc, key or "(top level)", str(exc))
        return obj


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _kind(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            type(None): "nothing"}.get(type(v), type(v).__name__)


def _plain(loc: Located) -> Any:
    if isinstance(loc.value, dict):
        return {k: _plain(v) for k, v in loc.value.items()}
    if isinstance(loc.value, list):
        return [_plain(v) for v in loc.value]
    return loc.value
