"""Soft labels for a JSONL file of texts, from a fine-tuned teacher (or hard ones from an LLM).

Input: one JSON object per line with a string ``text``; other keys are kept. Output: the same
objects plus ``label`` (the argmax) and, from a teacher, ``teacher_probs`` ({label: p}, the
softmax of the logits at ``temperature``), the shape ``contract.schemas.labels`` uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from models.errors import DataError
from models.teacher.encoder import Teacher
from models.teacher.llm import Labeler


def read_text_records(path: Path) -> list[dict[str, Any]]:
    """JSON objects with a string ``text``; a ``DataError`` names the file and line."""
    records = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{lineno}: not valid JSON: {exc}") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise DataError(f'{path}:{lineno}: expected an object with a string "text"')
        records.append(obj)
    return records


def soft_label(
    teacher: Teacher,
    records: Sequence[dict[str, Any]],
    batch_size: int = 32,
    temperature: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """Each record plus ``label`` and ``teacher_probs`` from the teacher's head."""
    names = teacher.label_names
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        probs = teacher.predict_proba([r["text"] for r in chunk], batch_size, temperature)
        for record, row in zip(chunk, probs.tolist(), strict=True):
            best = max(range(len(names)), key=row.__getitem__)
            yield {
                **record,
                "label": names[best],
                "teacher_probs": {n: round(p, 6) for n, p in zip(names, row, strict=True)},
            }


def hard_label(labeler: Labeler, records: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each record plus the ``label`` the labeler chose."""
    for record in records:
        yield {**record, "label": labeler.label(record["text"])}
