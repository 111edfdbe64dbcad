"""Data for the student: the record type, user and public loaders, the synthetic logistics
corpus with drift phases, and augmentation for transfer sets."""

from models.data.loaders import load_examples, load_public, read_csv, read_jsonl, write_jsonl
from models.data.record import Example, LabelSet

__all__ = [
    "Example",
    "LabelSet",
    "load_examples",
    "load_public",
    "read_csv",
    "read_jsonl",
    "write_jsonl",
]
