"""The common record type of every data set, and the ordered label set a model is trained on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import DataError


@dataclass(frozen=True)
class Example:
    """One labeled message, whatever file or generator it came from."""

    text: str  # the raw message, as a device would see it
    label: str  # label name (synthetic data: the canonical Chinese name, e.g. "运输中")
    id: str | None = None  # stable id within its data set, when the source has one
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)  # source-specific extras

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise DataError(f"Example.text must be a str, got {type(self.text).__name__}")
        if not isinstance(self.label, str) or not self.label:
            raise DataError(f"Example.label must be a non-empty str, got {self.label!r}")


@dataclass(frozen=True)
class LabelSet:
    """Ordered label names <-> ids; the order is the student's output order (and the blob's)."""

    names: tuple[str, ...]  # label name of each output id, no duplicates

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise DataError(f"a label set needs at least 2 labels, got {list(self.names)}")
        if len(set(self.names)) != len(self.names):
            raise DataError(f"duplicate label names in {list(self.names)}")
        if not all(isinstance(n, str) and n for n in self.names):
            raise DataError(f"label names must be non-empty strings: {list(self.names)}")

    @classmethod
    def from_examples(cls, examples: Iterable[Example]) -> LabelSet:
        """The sorted set of labels used by ``examples`` (sorted, so shuffling cannot change it)."""
        return cls(tuple(sorted({e.label for e in examples})))

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def id(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise DataError(f"unknown label {name!r}; known labels: {list(self.names)}") from None

    def name(self, index: int) -> str:
        if not 0 <= index < len(self.names):
            raise DataError(f"label id {index} out of range [0, {len(self.names)})")
        return self.names[index]

    def ids(self, examples: Iterable[Example]) -> list[int]:
        return [self.id(e.label) for e in examples]

    def to_json(self) -> str:
        return json.dumps({"labels": list(self.names)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> LabelSet:
        try:
            names = json.loads(text)["labels"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f'a label set is JSON {{"labels": [...]}}: {exc}') from exc
        if not isinstance(names, list):
            raise DataError(f'"labels" must be a list, got {type(names).__name__}')
        return cls(tuple(names))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LabelSet:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise DataError(f"cannot read label set {path}: {exc}") from exc
        return cls.from_json(text)
