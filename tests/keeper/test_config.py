"""``keeper:`` in supervisor.yaml: validated at load, errors name the file, line and key."""

from __future__ import annotations

from actors.keeper import KeeperConfig

import pytest

from runtime import ConfigError
from runtime.config import load_config, load_text

from .conftest import make_app

GOOD = """\
keeper:
  tasks:
    prune-runs:
      cron: '0 0 3 * * *'
      action: prune
      misfire: skip
      args: {table: keeper_run, days: 30}
    every-minute: {cron: '* * * * *', action: record, paused: true, timeout: 30}
"""


def test_valid_section():
    cfg = load_text(GOOD, "s.yaml", make_app()).section("keeper", KeeperConfig)
    t = cfg.tasks["prune-runs"]
    assert (t.cron, t.action, t.misfire, t.paused, t.enabled) == \
        ("0 0 3 * * *", "prune", "skip", False, True)
    assert t.args == {"table": "keeper_run", "days": 30}
    assert cfg.tasks["every-minute"].paused and cfg.tasks["every-minute"].timeout == 30


@pytest.mark.parametrize("line3, key, reason", [
    ("      cron: '61 * * * *'", "keeper.tasks.bad.cron", "invalid cron expression '61 * * * *'"),
    ("      cron: '* * *'", "keeper.tasks.bad.cron", "expected a cron expression of 5 fields"),
    ("      cron: '*/5 * * * * * * *'", "keeper.tasks.bad.cron", "5 fields"),
    ("      cron: 'every day'", "keeper.tasks.bad.cron", "expected a cron expression"),
])
def test_invalid_cron_names_key_and_line(line3, key, reason):
    text = f"keeper:\n  tasks:\n    bad:\n{line3}\n      action: record\n"
    with pytest.raises(ConfigError) as err:
        load_text(text, "s.yaml", make_app())
    assert err.value.key == key and err.value.line == 4, err.value
    assert reason in str(err.value) and str(err.value).startswith(f"s.yaml:4: {key}: ")


def test_invalid_cron_from_a_file(tmp_path):
    path = tmp_path / "supervisor.yaml"
    path.write_text("node: {name: n}\nkeeper:\n  tasks:\n"
                    "    ok: {cron: '* * * * *', action: record}\n"
                    "    bad: {cron: '0 0 25 * * *', action: record}\n")
    with pytest.raises(ConfigError, match=r"supervisor.yaml:5: keeper.tasks.bad.cron: "):
        load_config(str(path), make_app())


@pytest.mark.parametrize("task, key, reason", [
    ("{cron: '* * * * *', action: nope}", "keeper.tasks.t.action", "unknown action 'nope'"),
    ("{cron: '* * * * *'}", "keeper.tasks.t.action", "required key is missing"),
    ("{action: record}", "keeper.tasks.t.cron", "required key is missing"),
    ("{cron: '* * * * *', action: record, misfire: twice}", "keeper.tasks.t.misfire",
     "expected one of run_once, skip"),
    ("{cron: '* * * * *', action: prune, args: {table: intents, days: 3}}", "keeper.tasks.t",
     "prune: args.table must be one of"),
    ("{cron: '* * * * *', action: prune, args: {table: keeper_run, days: 0}}",
     "keeper.tasks.t", "args.days must be a number > 0"),
    ("{cron: '* * * * *', action: prune, args: {table: keeper_run, column: id, days: 1}}",
     "keeper.tasks.t", "args.column of keeper_run must be one of"),
    ("{cron: '* * * * *', action: record, when: later}", "keeper.tasks.t.when", "unknown key"),
])
def test_other_errors_name_the_key(task, key, reason):
    with pytest.raises(ConfigError) as err:
        load_text(f"keeper:\n  tasks:\n    t: {task}\n", "s.yaml", make_app())
    assert err.value.key == key and err.value.line == 3, err.value
    assert reason in str(err.value)
