"""connectors/<api>/ holds only what production runs; the test doubles live apart."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APIS = ("magento", "freeagent", "emarsys")
# Development tools that run the simulators (they ship, but production never runs them).
TOOLS = {
    "profiles/management/commands/simulate.py",
    "profiles/management/commands/benchmark.py",
    "profiles/benchmark/measure.py",
    "profiles/benchmark/real_limits.py",
    "profiles/benchmark/floor.py",
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_connector_packages_hold_no_test_double() -> None:
    for api in APIS:
        for path in (REPO / "connectors" / api).glob("*.py"):
            assert not path.stem.startswith(("sim", "seed")), path
            assert not any(m.startswith("connectors.simulators") for m in _imports(path)), path
        assert (REPO / "connectors" / "simulators" / api / "app.py").exists()


def test_production_code_never_imports_the_simulators() -> None:
    for package in ("connectors", "contacts", "profiles", "syncapp"):
        for path in (REPO / package).rglob("*.py"):
            relative = path.relative_to(REPO).as_posix()
            if relative.startswith("connectors/simulators/") or relative in TOOLS:
                continue
            imported = _imports(path)
            assert not any(m.startswith("connectors.simulators") for m in imported), relative
