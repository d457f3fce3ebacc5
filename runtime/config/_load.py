"""Read and validate a config file into a :class:`Config`; nothing starts here."""

from __future__ import annotations

import os
from dataclasses import replace
from collections.abc import Mapping

from .._errors import ConfigError
from ._app import App, KeyedError
from ._model import DEFAULT_DATABASE_URL, Config, DatabaseConfig, GroupSupervision, NodeConfig
from ._schema import Secret, build
from ._yaml import Located, parse_yaml

__all__ = ["load_config", "load_text", "default_config_path"]

MAX_CONFIG_BYTES = 4 << 20


def default_config_path() -> str:
    return os.environ.get("ORBITAL_CONFIG", "supervisor.yaml")


def load_config(path: str, app: App, env: Mapping[str, str] | None = None) -> Config:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(path, None, "", f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(path, None, "", f"file larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, "", f"not UTF-8 ({exc.reason})") from None
    return load_text(text, path, app, env)


def load_text(text: str, file: str, app: App, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    root = parse_yaml(text, file, env)
    if not isinstance(root.value, dict):
        raise ConfigError(file, root.line, "", "expected a mapping of sections at top level")
    known = ("node", "database", "supervision", *app.sections)
    for name, loc in root.value.items():
        if name not in known:
            raise ConfigError(file, loc.line, name,
                              f"unknown section; expected one of: {', '.join(known)}")
    empty = Located({}, 1)
    node = build(NodeConfig, root.value.get("node", empty), file, "node")
    database = build(DatabaseConfig, root.value.get("database", empty), file, "database")
    if database.url is None:
        database = replace(database, url=Secret(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL))
    sup_loc = root.value.get("supervision", empty)
    supervision = build(dict[str, GroupSupervision], sup_loc, file, "supervision")
    for group in supervision:
        if group not in app.groups:
            raise ConfigError(file, sup_loc.value[group].line, f"supervision.{group}",
                              f"unknown group; expected one of: {', '.join(app.groups)}")
    sections = {name: build(schema, root.value.get(name, empty), file, name)
                for name, schema in app.sections.items()}
    for name, section_check in app.section_checks.items():
        try:
            section_check(sections[name])
        except KeyedError as exc:
            line, key = _line_of(root, name, exc.key)
            raise ConfigError(file, line, key, str(exc)) from None
        except ValueError as exc:
            line = root.value[name].line if name in root.value else None
            raise ConfigError(file, line, name, str(exc)) from None
    config = Config(file, node, database, supervision, sections)
    for name in app.sections:
        check = getattr(sections[name], "check_config", None)
        if check is not None:  # cross-section checks (a funding account's chain exists...)
            try:
                check(config)
            except ValueError as exc:
                line = root.value[name].line if name in root.value else None
                raise ConfigError(file, line, name, str(exc)) from None
    return config


def _line_of(root: Located, section: str, key: str) -> tuple[int | None, str]:
    """The line of ``section.key`` (dotted) in the parsed file, or of its nearest parent
    present there; and the full dotted key."""
    node = root.value.get(section)
    line = node.line if node is not None else None
    for part in key.split(".") if key else ():
        if node is None or not isinstance(node.value, dict) or part not in node.value:
            break
        node = node.value[part]
        line = node.line
    return line, f"{section}.{key}" if key else section
