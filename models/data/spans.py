"""Entity spans of the synthetic corpus and the BIO tags derived from them.

The synthetic corpus knows every slot it fills, so it records gold entity spans for free:
``Entity(type, start, end)`` in characters of the final message (after noise, wrappers and
joining two messages), with ``text[start:end]`` the entity's surface form. Five types:

| type | slots | examples |
|---|---|---|
| ``ID`` | ``{waybill}``, ``{order}`` | ``SF1234567890``, ``DH20231125``, ``PO-2024-123456`` |
| ``CARRIER`` | ``{carrier}`` (also in an SMS wrapper ``【顺丰】``) | ``顺丰``, ``SF Express`` |
| ``PLACE`` | ``{city}``, ``{city2}``, ``{wh}``, ``{port}``, ``{addr}`` | ``上海``, ``Wuhan hub`` |
| ``DATE`` | ``{date}`` | ``2023-11-05``, ``11月5日``, ``Nov 5`` |
| ``QTY`` | ``{qty}`` | ``12`` |

``TrackedText`` carries the spans through every edit the generator makes (each edit is
"replace ``text[a:b]`` by ``s``"), so the noise functions keep their random draws and the
corpus its bytes. BIO tags come from the spans through the student's tokenizer: a token is
tagged by the first entity it overlaps, ``B-`` for the entity's first token, ``I-`` after.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from models.errors import DataError

ENTITY_TYPES: tuple[str, ...] = ("ID", "CARRIER", "PLACE", "DATE", "QTY")
SLOT_TYPES: Mapping[str, str] = {
    "waybill": "ID",
    "order": "ID",
    "carrier": "CARRIER",
    "city": "PLACE",
    "city2": "PLACE",
    "wh": "PLACE",
    "port": "PLACE",
    "addr": "PLACE",
    "date": "DATE",
    "qty": "QTY",
}
# BIO tag set: index 0 is O, then B-X, I-X per type in ENTITY_TYPES order.
TAGS: tuple[str, ...] = ("O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I")))
OUTSIDE = 0
IGNORE_TAG = -100  # tag of a token without gold (transfer texts): no CRF term


def begin_tag(entity_type: str) -> int:
    return 1 + 2 * ENTITY_TYPES.index(entity_type)


def inside_tag(entity_type: str) -> int:
    return 2 + 2 * ENTITY_TYPES.index(entity_type)


def tag_type(tag: int) -> str | None:
    """Entity type of a tag index (None for O)."""
    return None if tag == OUTSIDE else ENTITY_TYPES[(tag - 1) // 2]


def is_begin(tag: int) -> bool:
    return tag != OUTSIDE and (tag - 1) % 2 == 0


@dataclass(frozen=True, order=True)
class Entity:
    """One entity: ``text[start:end]`` of the message is its surface form."""

    start: int  # first character (Python str index)
    end: int  # one past the last character
    type: str  # one of ENTITY_TYPES

    def __post_init__(self) -> None:
        if self.type not in ENTITY_TYPES:
            raise DataError(f"unknown entity type {self.type!r}; known: {list(ENTITY_TYPES)}")
        if not 0 <= self.start < self.end:
            raise DataError(f"entity span must satisfy 0 <= start < end, got {self}")

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "start": self.start, "end": self.end}


def entities_from_json(raw: object, text: str) -> list[Entity]:
    """The ``entities`` field of a record: a list of ``{"type", "start", "end"}`` objects whose
    spans lie inside ``text``. Raises :class:`DataError` otherwise."""
    if not isinstance(raw, list):
        raise DataError(f"entities must be a list, got {type(raw).__name__}")
    out = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"type", "start", "end"}:
            raise DataError(f"an entity is {{type, start, end}}, got {item!r}")
        start, end = item["start"], item["end"]
        if not (isinstance(start, int) and isinstance(end, int)) or end > len(text):
            raise DataError(f"entity {item!r} does not fit a text of {len(text)} characters")
        out.append(Entity(start, end, item["type"]))
    return sorted(out)


def example_entities(example: TextExample) -> list[Entity] | None:
    """Gold entities of an ``Example`` (``meta["entities"]``), or None when it has none."""
    meta = getattr(example, "meta", None) or {}
    raw = meta.get("entities")
    if raw is None:
        return None
    return entities_from_json(raw, example.text)


# --- spans through edits --------------------------------------------------------------------


@dataclass
class TrackedText:
    """A message under construction and the entity spans in it."""

    text: str = ""
    entities: list[Entity] = field(default_factory=list)

    def append(self, other: TrackedText | str) -> None:
        if isinstance(other, str):
            self.text += other
            return
        shift = len(self.text)
        self.entities += [Entity(e.start + shift, e.end + shift, e.type) for e in other.entities]
        self.text += other.text

    def replace(self, a: int, b: int, new: str) -> None:
        """``text[a:b] = new``; spans move with the text around them.

        A length-preserving edit (full width, a swap of two characters) keeps every span; an
        insertion at a span's start or end lands outside it, inside it the span grows; a span
        whose characters are all deleted is dropped.
        """
        assert 0 <= a <= b <= len(self.text), f"edit [{a}, {b}) outside {len(self.text)} chars"
        delta = len(new) - (b - a)
        self.text = self.text[:a] + new + self.text[b:]
        if delta == 0:
            return

        def move_start(p: int) -> int:
            if a == b:  # insertion: at or before the start it lands outside, before the entity
                return p + delta if p >= a else p
            if p < a:
                return p
            return p + delta if p >= b else a  # a start inside the replaced range: at ``a``

        def move_end(p: int) -> int:
            if a == b:  # insertion: at the end it lands outside, after the entity
                return p + delta if p > a else p
            if p <= a:
                return p
            return p + delta if p >= b else a + len(new)

        kept = []
        for e in self.entities:
            start, end = move_start(e.start), move_end(e.end)
            if start < end:
                kept.append(Entity(start, end, e.type))
        self.entities = kept

    def map_text(self, fn: Callable[[str], str]) -> None:
        """Apply a per-character transformation (casing) that may change lengths."""
        new = fn(self.text)
        if len(new) != len(self.text):
            self.entities = [
                Entity(len(fn(self.text[: e.start])), len(fn(self.text[: e.end])), e.type)
                for e in self.entities
            ]
        self.text = new

    def truncate(self, length: int) -> None:
        """Keep ``text[:length]`` (spans clipped; those past the end dropped)."""
        self.replace(length, len(self.text), "")

    def strip(self) -> None:
        lead = len(self.text) - len(self.text.lstrip())
        self.replace(0, lead, "")
        self.truncate(len(self.text.rstrip()))


def render_template(template: str, slots: Mapping[str, str]) -> TrackedText:
    """``template.format_map(slots)`` with the span of every entity slot recorded.

    Slots are looked up left to right, as ``str.format_map`` does, so a mapping that draws a
    value on first use (``SlotFiller``) makes the same draws in the same order.
    """
    out = TrackedText()
    for literal, name, spec, conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        assert not spec and conversion is None, f"template field {name!r} with a format spec"
        value = slots[name]
        start = len(out.text)
        out.append(value)
        kind = SLOT_TYPES.get(name)
        if kind is not None and value:
            out.entities.append(Entity(start, start + len(value), kind))
    return out


# --- BIO tags through a tokenizer -----------------------------------------------------------


class TextExample(Protocol):
    """What entity code reads of an example (``models.data.Example`` and ``LabeledText`` are
    ones): its text; gold entities, where there are any, in ``meta["entities"]``."""

    @property
    def text(self) -> str: ...


@runtime_checkable
class SpanTokenizer(Protocol):
    """What tagging needs of a tokenizer (``models.tokenizer.Tokenizer`` is one)."""

    def encode_with_spans(self, text: str) -> list[tuple[int, int, int]]: ...


def token_tags(token_spans: Sequence[tuple[int, int]], entities: Iterable[Entity]) -> list[int]:
    """BIO tag index per token: the first entity (by start) a token overlaps tags it, ``B-`` on
    the entity's first overlapping token, ``I-`` on later ones."""
    ordered = sorted(entities)
    tags = [OUTSIDE] * len(token_spans)
    seen: set[int] = set()  # entities that already have their first token
    for k, (s, e) in enumerate(token_spans):
        for index, ent in enumerate(ordered):
            if s < ent.end and ent.start < e:
                first = index not in seen
                seen.add(index)
                tags[k] = begin_tag(ent.type) if first else inside_tag(ent.type)
                break
    return tags


def bio_tags(tokenizer: SpanTokenizer, text: str, entities: Iterable[Entity]) -> list[int]:
    """BIO tags of ``text``'s student tokens from its gold entities."""
    spans = [(s, e) for _, s, e in tokenizer.encode_with_spans(text)]
    return token_tags(spans, entities)


def decode_tags(
    tags: Sequence[int], types: Sequence[str] = ENTITY_TYPES
) -> list[tuple[int, int, str]]:
    """Entities as token ranges ``(first, last + 1, type)`` from a BIO tag sequence over the
    entity ``types`` (tag ``1 + 2i`` is ``B-``, ``2 + 2i`` is ``I-`` of ``types[i]``).

    ``B-X`` opens an entity; ``I-X`` continues an open entity of type X and otherwise opens one
    (conlleval's reading of a stray ``I``); ``O`` closes.
    """
    out: list[tuple[int, int, str]] = []
    open_start, open_type = -1, ""
    for k, tag in enumerate([*tags, OUTSIDE]):
        kind = None if tag == OUTSIDE else types[(tag - 1) // 2]
        continues = kind is not None and not is_begin(tag) and kind == open_type
        if open_start >= 0 and not continues:
            out.append((open_start, k, open_type))
            open_start, open_type = -1, ""
        if kind is not None and not continues:
            open_start, open_type = k, kind
    return out


def tags_to_entities(tags: Sequence[int], token_spans: Sequence[tuple[int, int]]) -> list[Entity]:
    """Character-span entities from tags over tokens with ``(start, end)`` character spans."""
    assert len(tags) == len(token_spans), f"{len(tags)} tags for {len(token_spans)} tokens"
    return [
        Entity(token_spans[a][0], token_spans[b - 1][1], kind) for a, b, kind in decode_tags(tags)
    ]


def snap_to_tokens(
    entities: Iterable[Entity], token_spans: Sequence[tuple[int, int]]
) -> list[Entity]:
    """Gold entities as the tokenizer can express them: tagged, then decoded again."""
    return tags_to_entities(token_tags(token_spans, entities), token_spans)
