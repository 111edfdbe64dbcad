"""The optional tagging section of a model blob (``docs/model-blob.md``, "Tagging section").

Eight optional tensors carry an :class:`models.inttagger.IntegerTagger`: the tag head, the CRF
scores and the entity type names. A reader that does not know them skips them (the blob still
classifies); a reader that does takes all eight or none: a partial or inconsistent section is
refused as a whole.

The tags are ``TGW TGB TGM TGN`` (the tag head), ``TGTR TGST TGEN`` (the CRF scores) and
``TGNM`` (the entity type names); ``docs/model-blob.md`` gives their dtypes and shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from models.errors import ModelsError
from models.intlstm import IntegerModelError
from models.inttagger import IntegerTagger

TAGGER_TAGS: tuple[bytes, ...] = (b"TGW ", b"TGB ", b"TGM ", b"TGN ", b"TGTR", b"TGST", b"TGEN",
                                  b"TGNM")  # fmt: skip
_NAME = re.compile(rb"[A-Z][A-Z0-9_]{0,15}")  # whole name (fullmatch)


class TaggerSectionError(ModelsError):
    """The tagging section is partial or inconsistent (the blob reader reports it as such)."""


def names_table(types: tuple[str, ...]) -> np.ndarray:
    """The ``TGNM`` tensor of entity type names ``types`` (int8, unpadded)."""
    out = bytearray()
    for name in types:
        raw = name.encode("ascii")
        if not _NAME.fullmatch(raw):
            raise TaggerSectionError(f"entity type {name!r} must match [A-Z][A-Z0-9_]{{0,15}}")
        out += bytes([len(raw)]) + raw
    return np.frombuffer(bytes(out), dtype=np.int8).copy()


def read_names(table: np.ndarray) -> tuple[str, ...]:
    """The entity type names of a ``TGNM`` tensor; refuses a malformed table."""
    raw = table.astype(np.int8).tobytes()
    names, pos = [], 0
    while pos < len(raw):
        n = raw[pos]
        name = raw[pos + 1 : pos + 1 + n]
        if len(name) != n or not _NAME.fullmatch(name):
            raise TaggerSectionError(f"entity type name at byte {pos} is malformed")
        names.append(name.decode("ascii"))
        pos += 1 + n
    if len(set(names)) != len(names) or not names:
        raise TaggerSectionError("entity type names must be distinct, at least one")
    return tuple(names)


def tagger_tensors(tagger: IntegerTagger) -> list[tuple[bytes, np.ndarray]]:
    """The section's tensors in the order writers emit them (after the required ones)."""
    return [
        (b"TGW ", tagger.w),
        (b"TGB ", tagger.b),
        (b"TGM ", tagger.m),
        (b"TGN ", tagger.n),
        (b"TGTR", tagger.transitions),
        (b"TGST", tagger.start),
        (b"TGEN", tagger.end),
        (b"TGNM", names_table(tagger.entity_types)),
    ]


def read_tagger(
    present: set[bytes],
    shape_of: Callable[[bytes], tuple[int, ...]],
    get: Callable[..., np.ndarray],
    hidden: int,
) -> IntegerTagger | None:
    """The tagger of a blob whose directory holds the tags ``present``; ``shape_of(tag)`` gives
    a tensor's directory shape, ``get(tag, dtype_code, *shape)`` reads it (checking dtype and
    shape). None when the blob has no tagging section."""
    have = [t for t in TAGGER_TAGS if t in present]
    if not have:
        return None
    if len(have) != len(TAGGER_TAGS):
        missing = [t.decode() for t in TAGGER_TAGS if t not in present]
        raise TaggerSectionError(f"partial tagging section: missing {missing}")
    k = shape_of(b"TGW ")[0]
    names = read_names(get(b"TGNM", 1, shape_of(b"TGNM")[0]))
    if not 3 <= k <= 255 or k != 1 + 2 * len(names):
        raise TaggerSectionError(f"{k} tags for {len(names)} entity types (K = 1 + 2 x types)")
    try:
        return IntegerTagger(
            w=get(b"TGW ", 1, k, 2 * hidden),
            b=get(b"TGB ", 3, k),
            m=get(b"TGM ", 3, k),
            n=get(b"TGN ", 3, k),
            transitions=get(b"TGTR", 3, k, k),
            start=get(b"TGST", 3, k),
            end=get(b"TGEN", 3, k),
            entity_types=names,
        )
    except IntegerModelError as exc:
        raise TaggerSectionError(str(exc)) from exc
