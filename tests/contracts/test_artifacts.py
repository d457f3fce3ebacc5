"""Committed artifacts are exactly what the sources compile to, and what the devnet runs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from protocol import CONTRACT_NAMES, load_artifact

REPO = Path(__file__).resolve().parents[2]


def _build_module():
    spec = importlib.util.spec_from_file_location("orbital_contracts_build", REPO / "contracts" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_check_passes_on_committed_artifacts():
    result = subprocess.run([sys.executable, "contracts/build.py", "--check"], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_check_reports_stale_missing_and_extra(tmp_path, monkeypatch):
    build = _build_module()
    current = {p.name: p.read_text() for p in build.ARTIFACTS.glob("*.json")}
    assert set(current) == {f"{n}.json" for n in CONTRACT_NAMES}
    for name, text in current.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(build, "ARTIFACTS", tmp_path)
    assert build.check(current) == []
    (tmp_path / "Bridge.json").write_text(current["Bridge.json"].replace('"0x6', '"0x7', 1))
    (tmp_path / "PriceFeed.json").unlink()
    (tmp_path / "Old.json").write_text("{}")
    problems = build.check(current)
    assert any(p.startswith("stale:") and "Bridge.json" in p for p in problems)
    assert any(p.startswith("missing:") and "PriceFeed.json" in p for p in problems)
    assert any(p.startswith("extra:") and "Old.json" in p for p in problems)


def test_devnet_runs_the_committed_bytecode(chain_a):
    # Bridge has no immutables, so its runtime code must equal the artifact byte for byte.
    assert bytes(chain_a.w3.eth.get_code(chain_a.bridge.address)) == load_artifact("Bridge").deployed_bytecode
    for name in CONTRACT_NAMES:
        artifact = load_artifact(name)
        assert artifact.bytecode and artifact.deployed_bytecode and artifact.abi
