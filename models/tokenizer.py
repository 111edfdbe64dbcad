"""The student's hashing tokenizer: UTF-8 bytes -> token key hashes, as `docs/tokenizer.md` says.

Spec v2 hands the model each token's 32-bit FNV-1a key hash; the model's embedding maps hashes
to table rows (``models/embedding.py``, section 7). Spec v1's id is that mapping with one row
and no importance weights, ``R + hash mod (V - R)`` (:func:`v1_ids`).

The C port (`firmware/src/tl_tokenizer.c`) implements the same page and both are checked against
`tests/golden/tokenizer.jsonl`. This module is therefore written like C on purpose: the UTF-8
decoder is the spec's table as an explicit state machine (Python's codec replaces invalid
input differently), classes are explicit code-point ranges (not `str.isalpha`), and the hash
is FNV-1a written out. No library implements this exact contract, so it is hand-written.

    python -m models.tokenizer "物流订单号DH20231125状态更新"     # show keys, hashes, v1 ids

Its golden vectors are written by ``python -m benchmarks.golden.tokenizer``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from models.errors import ConfigError

SPEC_VERSION = 1  # the version of docs/tokenizer.md the golden vectors and the C engine share
RESERVED = 2  # ids 0 (padding) and 1 (reserved) are never produced
PAD_ID = 0
FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
VOCAB_RANGE = (16, 65535)  # inclusive, from the model blob header (u16)
MAX_LEN_RANGE = (1, 1024)  # inclusive, from the model blob header

# Code point classes (section 3).
SPACE, LETTER, DIGIT, SINGLE = 0, 1, 2, 3
SEPARATOR = -1  # a decode error: skipped byte that ends any run, like SPACE

# Section 3, SPACE ranges (inclusive), in increasing order.
SPACE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0020),
    (0x007F, 0x00A0),
    (0x00AD, 0x00AD),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x200F),
    (0x2028, 0x202F),
    (0x205F, 0x206F),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFC),
    (0xE0000, 0xE007F),
)


def fnv1a32(data: bytes) -> int:
    """32-bit FNV-1a of ``data`` (section 5)."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


@functools.lru_cache(maxsize=1 << 16)
def key_hash(key: bytes) -> int:
    """The hash of a token key (section 5), memoised: keys repeat a lot."""
    return fnv1a32(key)


def key_id(key: bytes, vocab_size: int) -> int:
    """The spec v1 id of a token key: ``R + fnv1a32(key) mod (V - R)``."""
    return RESERVED + key_hash(key) % (vocab_size - RESERVED)


def v1_ids(hashes: list[int], vocab_size: int) -> list[int]:
    """Spec v1 ids of token hashes (one table row per token, ``R + h mod (V - R)``)."""
    lo, hi = VOCAB_RANGE
    if not (isinstance(vocab_size, int) and lo <= vocab_size <= hi):
        raise ConfigError(f"vocab_size must be an int in [{lo}, {hi}], got {vocab_size!r}")
    return [RESERVED + h % (vocab_size - RESERVED) for h in hashes]


def _utf8_rule(b0: int) -> tuple[int, int, int]:
    """Section 1's table: (sequence length, lowest, highest allowed second byte); length 0 =
    invalid lead byte."""
    if b0 <= 0x7F:
        return 1, 0, 0
    if 0xC2 <= b0 <= 0xDF:
        return 2, 0x80, 0xBF
    if b0 == 0xE0:
        return 3, 0xA0, 0xBF
    if 0xE1 <= b0 <= 0xEC or 0xEE <= b0 <= 0xEF:
        return 3, 0x80, 0xBF
    if b0 == 0xED:
        return 3, 0x80, 0x9F
    if b0 == 0xF0:
        return 4, 0x90, 0xBF
    if 0xF1 <= b0 <= 0xF3:
        return 4, 0x80, 0xBF
    if b0 == 0xF4:
        return 4, 0x80, 0x8F
    return 0, 0, 0  # 80..C1, F5..FF


def decode(data: bytes) -> Iterator[tuple[int, int, int]]:
    """Section 1: yield ``(code point, byte start, byte length)``; a skipped byte yields
    ``(SEPARATOR, i, 1)``. Never fails."""
    n = len(data)
    i = 0
    while i < n:
        b0 = data[i]
        length, lo, hi = _utf8_rule(b0)
        ok = length > 0 and i + length <= n
        if ok and length > 1:
            b1 = data[i + 1]
            ok = lo <= b1 <= hi
            for k in range(2, length):
                ok = ok and 0x80 <= data[i + k] <= 0xBF
        if not ok:
            yield SEPARATOR, i, 1
            i += 1
            continue
        if length == 1:
            cp = b0
        elif length == 2:
            cp = ((b0 & 0x1F) << 6) | (data[i + 1] & 0x3F)
        elif length == 3:
            cp = ((b0 & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
        else:
            cp = (
                ((b0 & 0x07) << 18)
                | ((data[i + 1] & 0x3F) << 12)
                | ((data[i + 2] & 0x3F) << 6)
                | (data[i + 3] & 0x3F)
            )
        yield cp, i, length
        i += length


def fold(cp: int) -> int:
    """Section 2: full-width ASCII -> ASCII, ideographic space -> space, A..Z -> a..z."""
    if 0xFF01 <= cp <= 0xFF5E:
        cp -= 0xFEE0
    elif cp == 0x3000:
        cp = 0x20
    if 0x41 <= cp <= 0x5A:
        cp += 0x20
    return cp


def classify(cp: int) -> int:
    """Section 3: the class of a folded code point."""
    if 0x61 <= cp <= 0x7A:
        return LETTER
    if 0x30 <= cp <= 0x39:
        return DIGIT
    for lo, hi in SPACE_RANGES:
        if cp < lo:
            break
        if cp <= hi:
            return SPACE
    return SINGLE


def encode_utf8(cp: int) -> bytes:
    """UTF-8 bytes of one (folded) code point, written out as the C port does."""
    if cp < 0x80:
        return bytes((cp,))
    if cp < 0x800:
        return bytes((0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)))
    if cp < 0x10000:
        return bytes((0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)))
    return bytes(
        (
            0xF0 | (cp >> 18),
            0x80 | ((cp >> 12) & 0x3F),
            0x80 | ((cp >> 6) & 0x3F),
            0x80 | (cp & 0x3F),
        )
    )


def number_key(n_digits: int) -> bytes:
    """Section 4: a digit run is known only by its length, bucketed to 1..10."""
    assert n_digits >= 1, "a number token has at least one digit"
    return b"#" + str(min(n_digits, 10)).encode("ascii")


def segment(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """Section 4: yield ``(key, byte start, byte end)`` for every token, in order."""
    run_class = SPACE  # SPACE = no open run, else LETTER or DIGIT
    run_start = run_end = 0
    run_letters = bytearray()
    run_digits = 0
    for cp, start, length in decode(data):
        cls = SPACE if cp == SEPARATOR else classify(fold(cp))
        # 1. close the open run unless this code point continues it
        if run_class != SPACE and cls != run_class:
            key = bytes(run_letters) if run_class == LETTER else number_key(run_digits)
            yield key, run_start, run_end
            run_class = SPACE
        # 2. open or extend a run, or emit a SINGLE
        if cls in (LETTER, DIGIT):
            if run_class == SPACE:
                run_class, run_start = cls, start
                run_letters.clear()
                run_digits = 0
            if cls == LETTER:
                run_letters.append(fold(cp))
            else:
                run_digits += 1
            run_end = start + length
        elif cls == SINGLE:
            yield encode_utf8(fold(cp)), start, start + length
    if run_class != SPACE:
        key = bytes(run_letters) if run_class == LETTER else number_key(run_digits)
        yield key, run_start, run_end


def _as_bytes(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        return text
    # A str may hold lone surrogates; "surrogatepass" turns them into ED A0..ED BF sequences,
    # which the decoder skips as separators, so a str input never raises either.
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Tokenizer:
    """docs/tokenizer.md sections 1-6; ``max_len`` travels in the model blob header."""

    max_len: int = 64  # L: at most L tokens per message, later tokens are dropped

    def __post_init__(self) -> None:
        lo, hi = MAX_LEN_RANGE
        if not (isinstance(self.max_len, int) and lo <= self.max_len <= hi):
            raise ConfigError(f"max_len must be an int in [{lo}, {hi}], got {self.max_len!r}")

    def _keys(self, data: bytes) -> Iterator[tuple[bytes, int, int]]:
        # Section 6: stop after L tokens; the rest of the input is not read.
        for count, item in enumerate(segment(data)):
            if count >= self.max_len:
                return
            yield item

    def encode(self, text: str | bytes) -> list[int]:
        """Token key hashes of ``text`` (a str is UTF-8 encoded first), 0 to ``max_len`` of
        them: what a student model reads (its embedding maps them to rows)."""
        return [key_hash(key) for key, _, _ in self._keys(_as_bytes(text))]

    def tokens(self, text: str | bytes) -> list[bytes]:
        """The token keys (what is hashed), for debugging and docs."""
        return [key for key, _, _ in self._keys(_as_bytes(text))]

    def encode_with_spans(self, text: str) -> list[tuple[int, int, int]]:
        """``(hash, char_start, char_end)`` per token, offsets into the Python str ``text``, so
        ``text[char_start:char_end]`` is the token's source (for teacher/student alignment)."""
        data = _as_bytes(text)
        char_at = [0] * (len(data) + 1)  # byte offset -> index of the char it belongs to
        pos = 0
        for index, ch in enumerate(text):
            cp = ord(ch)  # a lone surrogate (D800..DFFF) is 3 bytes under surrogatepass
            width = 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
            for k in range(width):
                char_at[pos + k] = index
            pos += width
        char_at[pos] = len(text)
        return [
            (key_hash(key), char_at[start], char_at[end]) for key, start, end in self._keys(data)
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.tokenizer", description=__doc__)
    parser.add_argument("text", nargs="*", help="texts to tokenize and show")
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--max-len", type=int, default=64)
    args = parser.parse_args(argv)
    tok = Tokenizer(args.max_len)
    for text in args.text:
        hashes = tok.encode(text)
        for key, h, id_ in zip(
            tok.tokens(text), hashes, v1_ids(hashes, args.vocab_size), strict=True
        ):
            print(f"{h:10d}  {id_:6d}  {key.decode('utf-8')}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
