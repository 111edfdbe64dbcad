"""The teacher's token-classification head: BIO entity tags per teacher token.

``fleet teacher finetune --task tag`` trains it (with the encoder) on the corpus' gold entity
spans; the folder it writes holds ``tag_head.safetensors`` and ``tags.json`` beside
``encoder/`` and ``teacher.json`` (and no classification head), and ``Teacher(folder)`` loads
it: ``TeacherOutput.tag_logits`` is then ``(B, T, tags)``.

Teacher tokens are tagged from the spans exactly as student tokens are
(``models.data.spans.token_tags``): the first entity a token overlaps, ``B-`` on its first
token. XLM-R pieces that start a word carry the preceding space in their offsets (``▁``); the
space is trimmed first, so ``" Wuhan"`` is the token ``Wuhan``. Tokens outside the text (the
``query: `` prefix, specials, padding) are not trained and not decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from models.data.spans import IGNORE_TAG, TAGS, Entity, tags_to_entities, token_tags
from models.errors import DataError

if TYPE_CHECKING:
    from models.teacher.encoder import Teacher, TeacherOutput

TAG_HEAD_FILE = "tag_head.safetensors"
TAGS_FILE = "tags.json"


class TokenTagHead(nn.Module):
    """Dropout then one linear layer from each token's last hidden state to tag logits."""

    def __init__(self, hidden: int, num_tags: int, dropout: float = 0.1) -> None:
        super().__init__()
        assert hidden > 0 and num_tags > 1, f"need hidden>0, tags>1: {hidden}, {num_tags}"
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden, num_tags)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.linear(self.dropout(hidden))  # (B, T, H) -> (B, T, K)
        return logits


def save_tag_head(head: TokenTagHead, root: Path, tags: Sequence[str] = TAGS) -> None:
    from safetensors.torch import save_file

    from models.data.record import LabelSet

    state = {k: v.detach().contiguous().cpu() for k, v in head.linear.state_dict().items()}
    save_file(state, str(root / TAG_HEAD_FILE), metadata={"format": "pt"})
    LabelSet(tuple(tags)).save(root / TAGS_FILE)


def load_tag_head(root: Path) -> TokenTagHead | None:
    """The tag head of a fine-tuned teacher folder, or None when it has none."""
    from safetensors.torch import load_file

    from models.data.record import LabelSet

    if not (root / TAG_HEAD_FILE).is_file():
        return None
    tags = LabelSet.load(root / TAGS_FILE).names
    if tags != TAGS:
        raise DataError(f"{root}: tag set {list(tags)}, this code tags {list(TAGS)}")
    state = load_file(str(root / TAG_HEAD_FILE))
    num_tags, hidden = state["weight"].shape
    if num_tags != len(tags):
        raise DataError(f"{root}: tag head has {num_tags} outputs for {len(tags)} tags")
    head = TokenTagHead(hidden, num_tags)
    head.linear.load_state_dict(state)
    return head


def trimmed_spans(text: str, offsets: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Teacher token spans with leading whitespace removed (``▁`` pieces); empty stays empty."""
    out = []
    for start, end in offsets:
        s, e = int(start), int(end)
        while s < e and text[s].isspace():
            s += 1
        out.append((s, e) if s < e else (0, 0))
    return out


def text_token_spans(
    out: TeacherOutput, b: int, text: str
) -> tuple[list[int], list[tuple[int, int]]]:
    """Positions and trimmed character spans of row ``b``'s tokens that cover text."""
    positions = [int(p) for p in torch.nonzero(out.text_mask[b]).flatten().tolist()]
    spans = trimmed_spans(text, out.offsets[b][positions].tolist())
    keep = [k for k, span in enumerate(spans) if span[1] > span[0]]
    return [positions[k] for k in keep], [spans[k] for k in keep]


def gold_teacher_tags(
    batch: dict[str, torch.Tensor], texts: Sequence[str], entities: Sequence[Sequence[Entity]]
) -> torch.Tensor:
    """Training targets ``(B, T)`` for a tokenised batch: BIO tags, ``IGNORE_TAG`` off-text."""
    targets = torch.full(batch["input_ids"].shape, IGNORE_TAG, dtype=torch.long)
    for b, (text, ents) in enumerate(zip(texts, entities, strict=True)):
        positions = [int(p) for p in torch.nonzero(batch["text_mask"][b]).flatten().tolist()]
        spans = trimmed_spans(text, batch["offsets"][b][positions].tolist())
        tags = token_tags(spans, ents)
        for pos, span, tag in zip(positions, spans, tags, strict=True):
            if span[1] > span[0]:
                targets[b, pos] = tag
    return targets


@torch.no_grad()
def teacher_entities(
    teacher: Teacher, texts: Sequence[str], batch_size: int = 32
) -> list[list[Entity]]:
    """Entities the teacher's tag head finds (argmax tag per teacher token, then BIO decode)."""
    if teacher.tag_head is None:
        raise DataError("this teacher has no tag head: fleet teacher finetune --task tag")
    found: list[list[Entity]] = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        out = teacher.encode(chunk)
        assert out.tag_logits is not None
        for b, text in enumerate(chunk):
            positions, spans = text_token_spans(out, b, text)
            tags = out.tag_logits[b, positions].argmax(-1).tolist()
            found.append(tags_to_entities(tags, spans))
    return found
