"""``python -m benchmarks`` (``make bench``): run every ``benchmarks/*.py`` that has ``main()``.

Each benchmark prints its own JSON; they run one after another in separate processes (so one
benchmark's thread settings or crash cannot affect the next), in file-name order. Pass names
to run a subset: ``python -m benchmarks student_baselines``. Exit status 1 if any failed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def has_main(path: Path) -> bool:
    """True if the module defines a top-level ``main`` function (checked without importing)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


def discover() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.name.startswith("_") and has_main(p))


def main(argv: list[str] | None = None) -> int:
    wanted = list(sys.argv[1:] if argv is None else argv)
    names = discover()
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmarks {unknown}; available: {names}", file=sys.stderr)
        return 2
    failed = []
    for name in wanted or names:
        print(f"# benchmarks.{name}", file=sys.stderr, flush=True)
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"], cwd=HERE.parent)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
