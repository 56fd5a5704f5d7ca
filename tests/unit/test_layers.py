"""No module imports upward: each layer may import only the layers below it (and itself).

domain (pure) < config < gateways (I/O behind small interfaces) < supervisor < actors < runtime (the
process: service, daemon, control plane) < simulation < tui < bench < cli. A cycle between two layers
is the first thing that makes a newcomer lose the thread, so this is checked, not hoped for.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDER = ("domain", "config", "gateways", "supervisor", "actors", "runtime", "simulation", "tui", "bench", "cli")


def _layer(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        layer = _layer(path)
        if layer not in ORDER or ".venv" in path.parts:
            continue
        allowed = set(ORDER[:ORDER.index(layer) + 1])
        for name in _imports(path):
            top = name.split(".")[0]
            if top in ORDER and top not in allowed:
                upward.append(f"{path.relative_to(ROOT)} imports {name} ({layer} may use {', '.join(sorted(allowed))})")
    assert not upward, "\n".join(upward)


def test_every_layer_is_found():  # a renamed package must not make the check above pass by finding nothing
    found = {_layer(path) for path in ROOT.rglob("*.py") if ".venv" not in path.parts}
    assert set(ORDER) <= found


def test_every_first_party_import_names_a_module_that_exists():
    # mypy runs with ignore_missing_imports (for third-party stubs), which also hides an import of a moved
    # or deleted module of ours: this catches it.
    import importlib.util

    missing = sorted({f"{path.relative_to(ROOT)}: {name}" for path in ROOT.rglob("*.py")
                      if _layer(path) in ORDER and ".venv" not in path.parts
                      for name in _imports(path) if name.split(".")[0] in ORDER
                      and importlib.util.find_spec(name) is None})
    assert not missing, "\n".join(missing)
