"""The public surface you can see (in the style of trio's ``test_exports``): every package
of the project declares ``__all__`` in its ``__init__`` and every name in it exists; and no
module imports another package's private (``_name``) module, whether of this project or of
a library (a library's private module is not its API: it changes without notice)."""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "runtime", "chains", "actors", "node", "clients", "solver", "devnet")
# The one module allowed to reach into a library's private module, and why: it is the
# thread-free ask from the event loop, pinned by tests/runtime/test_loop_ask.py.
ALLOWED = {("runtime/_loop_ask.py", "pykka._envelope")}


def _modules() -> list[pathlib.Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _package_of(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(ROOT).parts[:-1])


@pytest.mark.parametrize("init", sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")),
                         ids=lambda p: str(p.relative_to(ROOT).parent))
def test_every_package_declares_its_public_names(init):
    name = ".".join(init.relative_to(ROOT).parent.parts)
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    names = list(module.__all__)
    assert len(names) == len(set(names)), f"{name}.__all__ repeats a name"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def _private_imports(source: str, package: str) -> list[str]:
    """Dotted names of private modules (or private names) of other packages ``source``
    (a module of ``package``) imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                       if a.name.startswith("_") and not a.name.startswith("__")]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:i])
                    if not (package == owner or package.startswith(owner + ".")):
                        found.append(target)
                    break
    return found


def test_no_module_imports_another_packages_private_module():
    bad = [(str(p.relative_to(ROOT)), t) for p in _modules()
           for t in _private_imports(p.read_text(encoding="utf-8"), _package_of(p))]
    assert [b for b in bad if b not in ALLOWED] == []
    assert set(bad) == ALLOWED, "an allowed exception is gone: remove it from ALLOWED"


def test_the_checker_sees_a_private_import():
    """The rule itself: another package's private module (imported either way) is found,
    the package's own are not."""
    source = ("from actors.book import _store\nfrom actors.keeper._models import KeeperRun\n"
              "from actors.book._views import Status\nimport pykka._envelope\n")
    assert _private_imports(source, "actors.book") == ["actors.keeper._models", "pykka._envelope"]
    assert _private_imports(source, "actors.attester") == [
        "actors.book._store", "actors.keeper._models", "actors.book._views", "pykka._envelope"]
