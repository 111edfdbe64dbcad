"""Surface noise of the synthetic corpus: each edit keeps the message readable to a human.

Every edit works on a ``TrackedText``, so the entity spans move with the characters around
them (``models.data.spans``); the random draws are those of plain string edits, so the
corpus' bytes do not depend on span tracking.
"""

from __future__ import annotations

import random
import string

from models.data.entities import SlotFiller
from models.data.spans import TrackedText, render_template

EMOJI = ("📦", "🚚", "⚠️", "❗", "✅", "🙏", "😭", "🔥", "‼️", "😡")
# (prefixes, suffixes) an SMS gateway or app adds around a message
WRAPPERS = {
    "zh": (("【{carrier}】", "[通知]", "【物流提醒】"), ("回复TD退订", "，详情请查看APP")),
    "en": (("[{carrier}] ", "Notice: ", "FYI "), (" Reply STOP to opt out", " Details in the app")),
}


def _full_width(rng: random.Random, msg: TrackedText) -> None:
    text = msg.text
    start = rng.randrange(len(text))
    end = rng.randrange(start, len(text)) + 1
    wide = "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c
        for c in text[start:end]
    )
    msg.replace(start, end, wide)


def _casing(rng: random.Random, msg: TrackedText) -> None:
    msg.map_text(rng.choice((str.upper, str.lower, str.title, str.swapcase)))


def _typo(rng: random.Random, msg: TrackedText) -> None:
    text = msg.text
    positions = [i for i, c in enumerate(text) if c in string.ascii_letters or c >= "\u4e00"]
    if not positions:
        return
    i = rng.choice(positions)
    edit = rng.randrange(3)
    if edit == 0:  # drop a character
        msg.replace(i, i + 1, "")
    elif edit == 1:  # double it (both copies belong where the character did)
        msg.replace(i, i + 1, text[i] * 2)
    else:  # swap with the next
        end = min(i + 2, len(text))  # the last character has nothing to swap with
        msg.replace(i, end, text[i + 1 : i + 2] + text[i])


def _emoji(rng: random.Random, msg: TrackedText) -> None:
    emoji = rng.choice(EMOJI) * rng.randrange(1, 3)
    if rng.random() < 0.5:
        msg.replace(0, 0, emoji)
    else:
        msg.append(emoji)


def _spaces(rng: random.Random, msg: TrackedText) -> None:
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(msg.text) + 1)
        msg.replace(i, i, rng.choice((" ", "  ", "\t", "\u3000")))


def _wrapper(rng: random.Random, msg: TrackedText, lang: str, phase: int) -> None:
    family = "en" if lang == "en" else "zh"
    prefixes, suffixes = WRAPPERS[family]
    if rng.random() < 0.5:
        msg.append(rng.choice(suffixes))
        return
    prefix = render_template(rng.choice(prefixes), SlotFiller(rng, phase, family))
    prefix.append(msg)  # the wrapper's carrier is an entity too
    msg.text, msg.entities = prefix.text, prefix.entities


def _punctuation(rng: random.Random, msg: TrackedText) -> None:
    msg.truncate(len(msg.text.rstrip("。.!！ ")))
    msg.append(rng.choice(("!!!", "？？", "~", "!", "。。。", "...", "")))


def add_noise(rng: random.Random, msg: TrackedText, lang: str, phase: int, rate: float) -> None:
    """With probability ``rate`` apply one edit, then keep adding edits with probability 1/3."""
    if not msg.text or rng.random() >= rate:
        return
    while True:
        edit = rng.randrange(7)
        if edit == 0:
            _full_width(rng, msg)
        elif edit == 1:
            _casing(rng, msg)
        elif edit == 2:
            _typo(rng, msg)
        elif edit == 3:
            _emoji(rng, msg)
        elif edit == 4:
            _spaces(rng, msg)
        elif edit == 5:
            _wrapper(rng, msg, lang, phase)
        else:
            _punctuation(rng, msg)
        if not msg.text or rng.random() >= 1 / 3:
            return
