"""The dependency rule between the top-level packages, checked by walking every import.

contract <- models <- services, contract <- edge_agent <- services: the wire contract imports
none of the project's packages, models imports neither side, the device side (edge_agent)
never imports services (and services import it only where devices are run: the device
commands and the demo), no library code imports benchmarks, nothing but tests imports tests.
Inside models, the library never imports its commands (``models/cli/``); golden-vector writers
and reports live beside the benchmarks. Imports inside functions count as much as those at the
top (``docs/architecture.md``, "Dependency rule").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT = ("contract", "models", "edge_agent", "services", "benchmarks", "tests")
ALLOWED: dict[str, set[str]] = {
    "contract": {"contract"},
    "models": {"contract", "models"},
    "edge_agent": {"contract", "models", "edge_agent"},
    "services": {"contract", "models", "edge_agent", "services"},
    "benchmarks": {"contract", "models", "edge_agent", "services", "benchmarks"},
}
RUNS_DEVICES = ("services/devices/", "services/demo/")  # the only services importing edge_agent
MODELS_COMMANDS = "models/cli/"  # the layer of models above the library


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of a project package in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in PROJECT]
    return found


def allowed(path: Path, module: str) -> bool:
    package, top = path.relative_to(REPO).parts[0], module.split(".")[0]
    where = path.relative_to(REPO).as_posix()
    if package == "services" and top == "edge_agent":
        return where.startswith(RUNS_DEVICES)
    if package == "models" and (module == "models.cli" or module.startswith("models.cli.")):
        return where.startswith(MODELS_COMMANDS)
    return top in ALLOWED[package]


def violations(package: str) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted((REPO / package).rglob("*.py"))
        for line, module in imported_packages(path)
        if not allowed(path, module)
    ]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_rule_allows(package: str) -> None:
    assert violations(package) == []


def test_only_the_device_commands_and_the_demo_import_edge_agent() -> None:
    assert allowed(REPO / "services/devices/cli.py", "edge_agent.simulator")
    assert not allowed(REPO / "services/rollout/adapters.py", "edge_agent.transport")
    assert not allowed(REPO / "edge_agent/ota.py", "services.errors")


def test_the_ml_library_never_imports_its_commands() -> None:
    assert allowed(REPO / "models/cli/distill.py", "models.cli.student")
    assert not allowed(REPO / "models/train.py", "models.cli.student")


def test_models_holds_no_golden_writer_or_report() -> None:
    library = REPO / "models"
    misplaced = [*library.rglob("*_golden.py"), *library.rglob("*report*.py")]
    assert [p.relative_to(REPO).as_posix() for p in misplaced] == []


def test_a_forbidden_import_is_found(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from services.settings import load_settings\n")
    assert imported_packages(module) == [(4, "services.settings")]
