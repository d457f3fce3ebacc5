"""Compiled contract artifacts (ABI and bytecode) from contracts/artifacts.

Why load JSON rather than compile: runtime and clients must not need node or solc; the committed
artifacts are checked against the sources by ``python contracts/build.py --check``.
Set ORBITAL_ARTIFACTS_DIR to use artifacts from another location (e.g. an installed package).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["ARTIFACTS_DIR", "CONTRACT_NAMES", "Artifact", "abi", "artifacts_dir", "load_artifact"]

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "contracts" / "artifacts"
CONTRACT_NAMES = ("TestToken", "OrbitalSettler", "Bridge", "PriceFeed", "ConstantProductPool",
                  "Permit2", "SimpleWallet", "ApproveResetToken")


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes

    def event_abi(self, name: str) -> dict[str, Any]:
        for entry in self.abi:
            if entry.get("type") == "event" and entry.get("name") == name:
                return entry
        raise KeyError(f"{self.name} has no event {name}")


def artifacts_dir() -> Path:
    return Path(os.environ.get("ORBITAL_ARTIFACTS_DIR") or ARTIFACTS_DIR)


@cache
def _load(path: str) -> Artifact:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    return Artifact(
        name=doc["contractName"],
        abi=doc["abi"],
        bytecode=bytes.fromhex(doc["bytecode"][2:]),
        deployed_bytecode=bytes.fromhex(doc["deployedBytecode"][2:]),
    )


def load_artifact(name: str) -> Artifact:
    """Artifact of contract ``name``; FileNotFoundError says how to build it if missing."""
    path = artifacts_dir() / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no artifact {path}: run `python contracts/build.py`")
    return _load(str(path))


def abi(name: str) -> list[dict[str, Any]]:
    """Just the ABI of contract ``name`` (what web3 ``w3.eth.contract(abi=...)`` wants)."""
    return load_artifact(name).abi
