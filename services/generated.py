"""Files rendered from code and committed (JSON Schemas, Grafana dashboards): one way to
write them and one command line, so each renderer only says what its files contain."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path


def write_files(files: Mapping[str, str], directory: Path) -> list[Path]:
    """Write file name -> UTF-8 text into ``directory`` (created if missing); the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def export_main(
    render: Callable[[], Mapping[str, str]], default_dir: Path, argv: list[str] | None = None
) -> None:
    """``python -m <renderer> [DIR]``: write the rendered files and print their paths."""
    args = sys.argv[1:] if argv is None else argv
    for path in write_files(render(), Path(args[0]) if args else default_dir):
        print(path)
