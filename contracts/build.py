"""Compile contracts/src with the pinned npm solc and write deterministic artifacts.

Why a script instead of a Solidity toolchain: the repo pins exactly one compiler (npm ``solc``
0.8.30, run through node), so anyone with ``npm ci`` rebuilds byte-identical artifacts, and
``--check`` lets ``make test`` prove the committed artifacts are what the sources compile to.

    python contracts/build.py           # compile and (re)write contracts/artifacts/*.json
    python contracts/build.py --check   # exit 1 if the artifacts differ from a fresh compile
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
ARTIFACTS = HERE / "artifacts"
COMPILE_JS = HERE / "compile.js"

SOLC_VERSION = "0.8.30"
# Contracts that get an artifact (source unit name, contract name). Libraries, interfaces and
# abstract bases are compiled but only reach artifacts through these.
CONTRACTS = (
    ("src/TestToken.sol", "TestToken"),
    ("src/OrbitalSettler.sol", "OrbitalSettler"),
    ("src/Bridge.sol", "Bridge"),
    ("src/PriceFeed.sol", "PriceFeed"),
    ("src/ConstantProductPool.sol", "ConstantProductPool"),
    ("src/permit2/Permit2.sol", "Permit2"),
    ("src/SimpleWallet.sol", "SimpleWallet"),
    ("src/ApproveResetToken.sol", "ApproveResetToken"),
)
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    # No metadata hash: artifacts then depend only on source text and settings, not on paths.
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


def standard_input() -> dict:
    """Standard-JSON input over every .sol file under src/, keyed by 'src/<relative path>'."""
    sources = {
        f"src/{p.relative_to(SRC).as_posix()}": {"content": p.read_text(encoding="utf-8")}
        for p in sorted(SRC.rglob("*.sol"))
    }
    return {"language": "Solidity", "sources": sources, "settings": SETTINGS}


def compile_sources() -> dict[str, str]:
    """Run solc through node; return {artifact file name: file text}. Raises SystemExit on errors."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node not found on PATH: install Node.js and run `npm ci`")
    proc = subprocess.run(
        [node, str(COMPILE_JS)],
        input=json.dumps(standard_input()),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"solc failed to run:\n{proc.stderr}")
    result = json.loads(proc.stdout)
    version = result["version"]
    if not version.startswith(SOLC_VERSION + "+"):
        raise SystemExit(f"solc {version} found, {SOLC_VERSION} pinned: run `npm ci`")
    output = result["output"]
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise SystemExit("compilation failed:\n" + "\n".join(e["formattedMessage"] for e in errors))
    for warning in output.get("errors", []):
        print(warning["formattedMessage"], file=sys.stderr)
    return {f"{name}.json": _artifact(output, source, name, version) for source, name in CONTRACTS}


def _artifact(output: dict, source: str, name: str, version: str) -> str:
    compiled = output["contracts"][source][name]
    doc = {
        "contractName": name,
        "sourceName": source,
        "abi": compiled["abi"],
        "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
        "compiler": {"solc": version, "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"}},
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def check(fresh: dict[str, str]) -> list[str]:
    """Names of artifacts that are missing, stale or extra compared to a fresh compile."""
    problems = []
    existing = {p.name for p in ARTIFACTS.glob("*.json")}
    for name, text in fresh.items():
        path = ARTIFACTS / name
        if not path.exists():
            problems.append(f"missing: {path}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"stale: {path}")
    problems += [f"extra: {ARTIFACTS / name}" for name in sorted(existing - set(fresh))]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="verify artifacts, write nothing")
    args = parser.parse_args(argv)
    fresh = compile_sources()
    if args.check:
        problems = check(fresh)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("artifacts out of date: run `python contracts/build.py`", file=sys.stderr)
            return 1
        print(f"{len(fresh)} artifacts up to date")
        return 0
    ARTIFACTS.mkdir(exist_ok=True)
    for name, text in fresh.items():
        (ARTIFACTS / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(fresh)} artifacts to {ARTIFACTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
