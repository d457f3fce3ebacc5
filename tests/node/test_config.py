"""supervisor.yaml validation: typed objects, precise errors (file, line, key), env vars."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pytest

from node import new_app
from runtime import ConfigError, Strategy
from runtime.config import App, Secret, load_config, load_text, opt


@dataclass(frozen=True)
class Worker:
    value: int = opt(0, min=0, max=100)
    label: str = "w"


@dataclass(frozen=True)
class Workers:
    items: dict[str, Worker] = opt(factory=dict, pattern=r"[a-z0-9-]+")
    key: Optional[Secret] = None


def app() -> App:
    a = new_app()
    a.section("workers", Workers)
    return a


def err(text: str, env=None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(text, "supervisor.yaml", app(), env or {})
    return info.value


def test_repo_supervisor_yaml_is_valid():
    from node import build_app
    cfg = load_config("supervisor.yaml", build_app(), env={})
    assert cfg.node.grpc_listen == "127.0.0.1:50051"
    assert cfg.node.metrics_listen == "127.0.0.1:9464"
    assert cfg.database.url == "sqlite:///var/orbital.db"
    assert cfg.supervision["intents"].strategy is Strategy.REST_FOR_ONE


def test_defaults_and_typed_values():
    cfg = load_text("workers:\n  items:\n    a: {value: 7}\n", "f.yaml", app(), {})
    assert cfg.section("workers", Workers).items["a"] == Worker(7, "w")
    assert cfg.node.shutdown_timeout == 10.0 and cfg.node.state_dir == "var"


def test_database_url_from_environment_only_when_not_configured():
    cfg = load_text("", "f.yaml", app(), {"DATABASE_URL": "postgresql://u@h/db"})
    assert cfg.database.url == "postgresql://u@h/db"
    cfg = load_text("database: {url: 'sqlite:///x.db'}", "f.yaml", app(),
                    {"DATABASE_URL": "postgresql://u@h/db"})
    assert cfg.database.url == "sqlite:///x.db"


def test_env_interpolation_and_secret_never_shown():
    cfg = load_text("workers:\n  key: ${KEY}\n  items:\n    a: {value: '${V}'}\n",
                    "f.yaml", app(), {"KEY": "s3cr3t-value", "V": "5"})
    assert cfg.section("workers", Workers).key == "s3cr3t-value"
    assert "s3cr3t" not in repr(cfg)
    assert cfg.section("workers", Workers).items["a"].value == 5


def test_env_default_syntax():
    cfg = load_text("node: {name: '${NAME:-fallback}'}", "f.yaml", app(), {})
    assert cfg.node.name == "fallback"


@pytest.mark.parametrize("text,line,key,expected", [
    ("node:\n  grpc_listen: nowhere\n", 2, "node.grpc_listen", "expected a value matching"),
    ("node:\n  shutdown_timeout: -1\n", 2, "node.shutdown_timeout", "expected >= 0.1"),
    ("node:\n  shutdown_timeout: soon\n", 2, "node.shutdown_timeout", "expected a number"),
    ("node:\n  nmae: x\n", 2, "node.nmae", "unknown key"),
    ("nodes: {}\n", 1, "nodes", "unknown section"),
    ("supervision:\n  chainz: {}\n", 2, "supervision.chainz", "unknown group"),
    ("supervision:\n  chains:\n    strategy: one_for_none\n", 3,
     "supervision.chains.strategy", "expected one of one_for_one"),
    ("workers:\n  items:\n    a:\n      value: 101\n", 4, "workers.items.a.value",
     "expected <= 100"),
    ("workers:\n  items:\n    Bad_Name: {}\n", 3, "workers.items.Bad_Name", "name must match"),
    ("workers:\n  items:\n    a: [1]\n", 3, "workers.items.a", "expected a mapping"),
    ("node:\n  admin_token: ${MISSING}\n", 2, "node.admin_token",
     "environment variable MISSING is not set"),
    ("node:\n  name: a\n  name: b\n", 3, "node.name", "duplicate key"),
])
def test_errors_name_file_line_key_and_expectation(text, line, key, expected):
    e = err(text)
    assert (e.file, e.line, e.key) == ("supervisor.yaml", line, key)
    assert expected in e.expected
    assert str(e).startswith(f"supervisor.yaml:{line}: {key}: ")


def test_invalid_yaml_reports_line():
    e = err("node:\n  name: [unclosed\n  other: 1\n")
    assert e.line is not None and "invalid YAML" in str(e)


def test_secret_value_not_echoed_in_pattern_error():
    e = err("node:\n  admin_token: short\n")
    assert "short" not in str(e) and e.key == "node.admin_token"


def test_unreadable_and_oversized_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "absent.yaml"), app(), {})
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (5 << 20))
    with pytest.raises(ConfigError, match="larger than"):
        load_config(str(big), app(), {})


def test_check_config_cli(tmp_path, capsys):
    from node.cli import main
    assert main(["check-config", "supervisor.yaml"]) == 0
    assert "ok: supervisor.yaml" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("node:\n  metrics_listen: 99999999\n")
    assert main(["check-config", str(bad)]) == 1
    assert f"{bad}:2: node.metrics_listen" in capsys.readouterr().err


def test_tree_follows_the_spec_groups():
    cfg = load_text("", "f.yaml", app(), {})
    spec = app().tree(cfg)
    ids = [c.id for c in spec.children]
    assert ids == ["chains", "intents", "funding", "rebalance"]
    intents = spec.children[1].config
    assert intents.strategy is Strategy.REST_FOR_ONE
    assert [c.id for c in intents.children] == ["solvers"]


@pytest.mark.parametrize("text, env, line, key", [
    ("node:\n  admin_token: inline-token-0123456789\n", {}, 2, "node.admin_token"),
    ("node:\n  admin_token: '${UNSET:-default-token-0123456}'\n", {}, 2, "node.admin_token"),
    ("workers:\n  key: s3cr3t-inline\n", {}, 2, "workers.key"),
    ("database:\n  url: 'postgresql://u:hunter2@h/db'\n", {}, 2, "database.url"),
])
def test_an_inline_secret_is_refused_naming_file_line_and_key(text, env, line, key):
    e = err(text, env)
    assert (e.file, e.line, e.key) == ("supervisor.yaml", line, key)
    assert "a secret written inline" in e.expected and "${ORBITAL_" in e.expected
    for value in ("inline-token", "default-token", "s3cr3t-inline", "hunter2"):
        assert value not in str(e)


def test_secrets_from_the_environment_are_taken_and_redacted():
    from runtime import redact
    cfg = load_text("node:\n  admin_token: ${T}\ndatabase:\n  url: 'sqlite:///x.db'\n"
                    "workers:\n  key: 'prefix-${K}'\n", "supervisor.yaml", app(),
                    {"T": "env-token-0123456789abc", "K": "from-env-key"})
    assert cfg.node.admin_token == "env-token-0123456789abc"
    assert cfg.database.url == "sqlite:///x.db"          # no password: not a secret
    assert redact("token env-token-0123456789abc, key prefix-from-env-key") == "token ***, key ***"
    assert "sqlite:///x.db" in redact("db sqlite:///x.db")
