"""Hash embedding rows (``docs/tokenizer.md`` v2, section 7): token key hashes -> table rows.

The tokenizer gives every token the 32-bit FNV-1a hash of its key. A student reads ``K`` rows
of its ``V x E`` table per token, chosen by ``K`` hashes derived from that one, and (when it has
``P`` importance buckets) weighs them with learned per-token importance weights from a ``P x K``
table picked by yet another derived hash (Svenstrup et al. 2017, "Hash Embeddings for Efficient
Word Representations"). Two tokens then share their whole embedding only if they collide in
all ``K`` rows, where one table row per token (spec v1) made every bucket collision total.

    row_0(h)  = R + h mod (V - R)                          (the v1 id: K = 1, P = 0 is v1)
    row_j(h)  = R + mix32(h XOR (j * 0x9E3779B9)) mod (V - R)      for j = 1 .. K-1
    bucket(h) = mix32(h XOR 0x85EBCA6B) mod P
    mix32(x)  = murmur3's fmix32: x ^= x >> 16; x *= 0x85EBCA6B; x ^= x >> 13;
                x *= 0xC2B2AE35; x ^= x >> 16   (all mod 2^32)

The numpy functions are the reference (the integer engine and the golden vectors use them);
the torch functions compute the same integers on tensors for training. Hashes arrive as int64
(values 0 .. 2^32 - 1); every product below stays under 2^63.
"""

from __future__ import annotations

import numpy as np
import torch

from models.tokenizer import RESERVED

MASK32 = 0xFFFFFFFF
ROW_SALT = 0x9E3779B9  # row j >= 1 hashes h XOR (j * ROW_SALT mod 2^32)
BUCKET_SALT = 0x85EBCA6B  # the importance bucket hashes h XOR BUCKET_SALT
MAX_HASHES = 4  # K: rows per token, 1..4
MAX_BUCKETS = 65535  # P: importance buckets, 0 (none) or 1..65535


def _salt(j: int) -> int:
    return (j * ROW_SALT) & MASK32


def mix32_np(x: np.ndarray) -> np.ndarray:
    """murmur3 fmix32 on int64 arrays holding uint32 values."""
    x = np.asarray(x, dtype=np.int64) & MASK32
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & MASK32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & MASK32
    x ^= x >> 16
    return x


def rows_np(hashes: np.ndarray, vocab_size: int, k: int) -> np.ndarray:
    """Table rows ``[..., K]`` (int64) of token hashes ``[...]``."""
    h = np.asarray(hashes, dtype=np.int64) & MASK32
    span = vocab_size - RESERVED
    cols = [RESERVED + h % span]
    cols += [RESERVED + mix32_np(h ^ _salt(j)) % span for j in range(1, k)]
    return np.stack(cols, axis=-1)


def buckets_np(hashes: np.ndarray, buckets: int) -> np.ndarray:
    """Importance bucket ``[...]`` (int64) of token hashes ``[...]``; ``buckets`` >= 1."""
    h = np.asarray(hashes, dtype=np.int64) & MASK32
    return mix32_np(h ^ BUCKET_SALT) % buckets


def mix32(x: torch.Tensor) -> torch.Tensor:
    """:func:`mix32_np` on an int64 tensor."""
    x = x & MASK32
    x = x ^ (x >> 16)
    x = (x * 0x85EBCA6B) & MASK32
    x = x ^ (x >> 13)
    x = (x * 0xC2B2AE35) & MASK32
    return x ^ (x >> 16)


def rows(hashes: torch.Tensor, vocab_size: int, k: int) -> torch.Tensor:
    """:func:`rows_np` on an int64 tensor: ``[...]`` -> ``[..., K]``."""
    h = hashes.to(torch.int64) & MASK32
    span = vocab_size - RESERVED
    cols = [RESERVED + h % span]
    cols += [RESERVED + mix32(h ^ _salt(j)) % span for j in range(1, k)]
    return torch.stack(cols, dim=-1)


def buckets(hashes: torch.Tensor, count: int) -> torch.Tensor:
    """:func:`buckets_np` on an int64 tensor."""
    return mix32((hashes.to(torch.int64) & MASK32) ^ BUCKET_SALT) % count
