"""Reload: adding/removing a strategy in supervisor.yaml starts/stops exactly that actor."""

from __future__ import annotations

from tests._node import env_secret

import logging

DRY = {"dry_run": "true"}


def test_reload_adds_and_removes_exactly_one_strategy(rebalance_node, chains, tmp_path):
    db = f"sqlite:///{tmp_path}/orbital.db"
    h = rebalance_node(db, {"s1": DRY, "s2": DRY})
    assert h.node.registry.paths("rebalance/") == ["rebalance/s1", "rebalance/s2"]
    s1 = h.node.registry.lookup("rebalance/s1")

    h.write(db, {"s1": DRY, "s3": DRY})
    result = h.node.reload()
    assert (result.started, result.stopped, result.restarted) == \
        (["rebalance/s3"], ["rebalance/s2"], [])
    assert h.node.registry.paths("rebalance/") == ["rebalance/s1", "rebalance/s3"]
    assert h.node.registry.lookup("rebalance/s1") is s1            # untouched
    assert sorted(h.list_strategies()) == ["s1", "s3"]

    # a changed strategy restarts that one only; an unchanged file changes nothing
    h.write(db, {"s1": DRY, "s3": {"dry_run": "true", "tolerance": 0.1}})
    result = h.node.reload()
    assert (result.started, result.stopped, result.restarted) == ([], [], ["rebalance/s3"])
    result = h.node.reload()
    assert (result.started, result.stopped, result.restarted) == ([], [], [])


def test_strategy_without_signer_is_not_started(rebalance_node, chains, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="orbital.rebalance"):
        h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db", {"s1": DRY}, operator=False)
    assert h.node.registry.paths("rebalance/") == []
    assert any("not started: no inventory signer" in r.getMessage() and
               getattr(r, "strategy", "") == "s1" for r in caplog.records)
    assert h.list_strategies() == {}


def test_undecryptable_keystore_leaves_that_strategy_idle_with_the_reason(
        rebalance_node, chains, roles, tmp_path):
    import json

    from eth_account import Account
    path = tmp_path / "op.json"
    path.write_text(json.dumps(Account.encrypt(roles["operator"].private_key, "right")))
    bad = {"signer": f"{{keystore: '{path}', password: '{env_secret('wrong')}'}}",
           "dry_run": "true"}
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db", {"bad": bad, "good": DRY})
    for _ in range(3):
        h.step()
    listed = h.list_strategies()
    assert listed["bad"].state == "error"
    assert "cannot load the inventory signer" in listed["bad"].last_error
    assert "wrong" not in listed["bad"].last_error
    assert [w.target for w in listed["bad"].weights] == [0.5, 0.5]
    assert listed["good"].state in ("ok", "cooldown") and h.moves("bad") == []
    assert h.node.registry.paths("rebalance/") == ["rebalance/bad", "rebalance/good"]
