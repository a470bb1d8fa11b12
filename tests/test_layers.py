"""The layers in docs/architecture.md, checked on the source: which package may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"


def imports_of(package: str) -> list[tuple[str, str]]:
    """(module file, imported bridge module) for every import in a sub-package, lazy ones too."""
    found = []
    for path in sorted((BRIDGE / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bridge"):
                names = [f"{node.module}.{a.name}" for a in node.names]
                found += [(path.name, n) for n in names]
            elif isinstance(node, ast.Import):
                found += [(path.name, a.name) for a in node.names if a.name.startswith("bridge")]
    return found


FORBIDDEN = {
    # pure core: values in, values out
    "mail": ("bridge.adapters", "bridge.stages", "bridge.service", "bridge.cli", "bridge.config",
             "bridge.store"),
    "decide": ("bridge.adapters", "bridge.stages", "bridge.service", "bridge.cli", "bridge.config",
               "bridge.store"),
    "compose": ("bridge.adapters", "bridge.stages", "bridge.service", "bridge.cli", "bridge.config",
                "bridge.store"),
    # config is values: it builds no adapter and runs no stage
    "config": ("bridge.adapters", "bridge.stages", "bridge.service", "bridge.cli", "bridge.store"),
    # adapters translate; they neither read config nor know the stages
    "adapters": ("bridge.stages", "bridge.service", "bridge.cli", "bridge.config.reader",
                 "bridge.config.settings", "bridge.store"),
    # stages see our types and errors, never an adapter or the config reader
    "stages": ("bridge.adapters", "bridge.service", "bridge.cli", "bridge.config.reader",
               "bridge.config.settings"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_only_layers_above_it(package: str) -> None:
    wrong = [(f, name) for f, name in imports_of(package)
             if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package])]
    assert wrong == []


def test_sql_lives_only_in_the_store() -> None:
    """No module outside bridge/store runs a statement: the repositories own every query."""
    calls = []
    for path in sorted(BRIDGE.rglob("*.py")):
        if path.parent.name == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "executemany", "executescript")):
                calls.append(f"{path.relative_to(BRIDGE)}:{node.lineno}")
    assert calls == []
