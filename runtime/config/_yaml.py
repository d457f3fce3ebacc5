"""YAML to a tree of located values, with ``${ENV_VAR}`` interpolation.

Validation errors must name the line, so the file is composed (not loaded) and every
value keeps the line it came from until the schema has turned it into typed objects.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

import yaml

from .._errors import ConfigError

__all__ = ["Located", "parse_yaml"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Located:
    """A YAML value (scalar, list of Located, or dict of str -> Located) and its line."""

    value: Any
    line: int
    interpolated: bool = False  # came from ${...}: a string that may stand for a number
    from_env: bool = False      # a ${NAME} in it was set in the environment (not a :-default)


def parse_yaml(text: str, file: str, env: Mapping[str, str] | None = None) -> Located:
    env = os.environ if env is None else env
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(file, mark.line + 1 if mark else None, "",
                          f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, None, "", f"invalid YAML: {exc}") from None
    if node is None:
        return Located({}, 1)
    return _convert(node, file, env, "")


_scalars = yaml.SafeLoader("")


def _convert(node: yaml.Node, file: str, env: Mapping[str, str], key: str) -> Located:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Located] = {}
        for k, v in node.value:
            name = str(_scalars.construct_object(k))
            path = f"{key}.{name}" if key else name
            if name in out:
                raise ConfigError(file, k.start_mark.line + 1, path, "duplicate key")
            out[name] = _convert(v, file, env, path)
        return Located(out, line)
    if isinstance(node, yaml.SequenceNode):
        return Located([_convert(v, file, env, f"{key}[{i}]")
                        for i, v in enumerate(node.value)], line)
    value = _scalars.construct_object(node)
    if isinstance(value, str) and "${" in value:
        used: list[str] = []

        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                used.append(name)
                return env[name]
            if default is not None:
                return default
            raise ConfigError(file, line, key, f"environment variable {name} is not set")
        return Located(_ENV.sub(sub, value), line, interpolated=True, from_env=bool(used))
    return Located(value, line)
