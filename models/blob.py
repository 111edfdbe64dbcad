"""The model blob (``docs/model-blob.md`` v1): writer and validating reader.

The blob is what OTA ships: a 64-byte header, the label table, a tensor directory, 4-byte
aligned tensors (the optional tagging section among them, ``models/blob_tagger.py``) and a
trailing CRC-32. The reader refuses every malformed blob with its own subclass of
:class:`BlobError`, in the order the spec lists, and checks the CRC before it interprets
anything past the header. The format is ours, so it is packed with ``struct``.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.blob_tagger import TAGGER_TAGS, TaggerSectionError, read_tagger, tagger_tensors
from models.errors import ModelsError
from models.intlstm import (
    DirectionTensors,
    IntegerModelError,
    IntegerStudent,
    integer_logits,
)
from models.inttagger import IntegerTagger
from models.tokenizer import RESERVED

MAGIC = b"TLSM"
FORMAT_VERSION = 1
HEADER_SIZE = 64
DIR_ENTRY_SIZE = 24
CRC_SIZE = 4
LOGIT_FRAC_BITS = 10
TOKENIZER_VERSION = 1
POOLING_LAST = 0
MAX_LABEL_BYTES = 64
# magic, format_version, header_size, model_version, total_size, V, L, E, H, C, pooling,
# tokenizer_version, input_scale, labels_offset, labels_size, dir_offset, tensor_count,
# logit_frac_bits, reserved
HEADER = struct.Struct("<4sHHIIHHHHHBBfIIIIi12s")
DIR_ENTRY = struct.Struct("<4sBBHIIII")
DTYPES: dict[int, np.dtype] = {1: np.dtype("<i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4")}
DTYPE_CODES = {np.dtype("int8"): 1, np.dtype("int16"): 2, np.dtype("int32"): 3}
SELFTEST_TAG = b"STST"
assert HEADER.size == HEADER_SIZE and DIR_ENTRY.size == DIR_ENTRY_SIZE


class BlobError(ModelsError):
    """A model blob is malformed; each subclass is one reason of the spec's validation list."""


class BlobTruncatedError(BlobError):
    """Fewer bytes than the header, or fewer than the header's ``total_size``."""


class BlobOversizedError(BlobError):
    """More bytes than the header's ``total_size``."""


class BlobMagicError(BlobError):
    """The first four bytes are not ``TLSM``."""


class BlobVersionError(BlobError):
    """An unknown ``format_version``."""


class BlobCRCError(BlobError):
    """The trailing CRC-32 does not match the bytes before it."""


class BlobInconsistentError(BlobError):
    """Header fields, labels, directory or tensors disagree with each other or the spec."""


@dataclass(frozen=True)
class SelfTestCase:
    """One record of the optional ``STST`` tensor: ids, expected label and int32 logits."""

    ids: tuple[int, ...]
    label: int
    logits: tuple[int, ...]


@dataclass(frozen=True)
class Blob:
    """A parsed, validated blob."""

    model_version: int  # release number, >= 1
    tokenizer_version: int  # docs/tokenizer.md version
    model: IntegerStudent  # the tensors (labels, max_len and s_x included)
    selftest: tuple[SelfTestCase, ...]  # empty when the blob has no STST tensor
    tagger: IntegerTagger | None = None  # the optional tagging section (models/blob_tagger.py)


def _align4(n: int) -> int:
    return (n + 3) & ~3


# ---------------------------------------------------------------------------------------------
# Writer


def _tensors(model: IntegerStudent) -> list[tuple[bytes, np.ndarray]]:
    out: list[tuple[bytes, np.ndarray]] = [(b"EMB ", model.emb)]
    for prefix, d in ((b"F", model.fwd), (b"B", model.bwd)):
        out += [
            (prefix + b"WX ", d.wx),
            (prefix + b"WH ", d.wh),
            (prefix + b"B  ", d.b),
            (prefix + b"MX ", d.mx),
            (prefix + b"NX ", d.nx),
            (prefix + b"MH ", d.mh),
            (prefix + b"NH ", d.nh),
        ]
    out += [
        (b"HW  ", model.head_w),
        (b"HB  ", model.head_b),
        (b"HM  ", model.head_m),
        (b"HN  ", model.head_n),
    ]
    return out


REQUIRED_TAGS: tuple[bytes, ...] = (
    b"EMB ",
    *(
        p + s
        for p in (b"F", b"B")
        for s in (b"WX ", b"WH ", b"B  ", b"MX ", b"NX ", b"MH ", b"NH ")
    ),
    b"HW  ",
    b"HB  ",
    b"HM  ",
    b"HN  ",
)


def default_selftest_ids(model: IntegerStudent, count: int = 4) -> list[list[int]]:
    """Deterministic id lists (lengths 0, 1, a few, ``max_len``) for the ``STST`` tensor."""
    rng = np.random.default_rng(20241125)
    lengths = [0, 1, min(7, model.max_len), model.max_len][:count]
    return [rng.integers(2, model.vocab_size, size=n).tolist() for n in lengths]


def selftest_cases(model: IntegerStudent, sequences: Sequence[Sequence[int]]) -> list[SelfTestCase]:
    """Run the integer reference on the spec v1 id lists ``sequences`` and record what a
    device must reproduce (id ``i`` is the row of hash ``i - R``)."""
    logits = integer_logits(model, [[i - RESERVED for i in seq] for seq in sequences])
    return [
        SelfTestCase(tuple(int(i) for i in seq), int(np.argmax(row)), tuple(int(v) for v in row))
        for seq, row in zip(sequences, logits, strict=True)
    ]


def _selftest_tensor(cases: Sequence[SelfTestCase]) -> np.ndarray:
    words: list[int] = []
    for case in cases:
        words += [len(case.ids), *case.ids, case.label, *case.logits]
    return np.asarray(words, dtype=np.int32)


def _label_table(labels: Sequence[str]) -> bytes:
    out = bytearray()
    for label in labels:
        raw = label.encode("utf-8")
        if not 1 <= len(raw) <= MAX_LABEL_BYTES or b"\x00" in raw:
            raise BlobInconsistentError(f"label {label!r} must be 1..64 UTF-8 bytes without NUL")
        out += bytes([len(raw)]) + raw
    if len(set(labels)) != len(labels):
        raise BlobInconsistentError(f"labels must be distinct: {list(labels)}")
    return bytes(out) + b"\x00" * (_align4(len(out)) - len(out))


def write_blob(
    model: IntegerStudent,
    model_version: int,
    selftest: Sequence[Sequence[int]] | None = None,
    tagger: IntegerTagger | None = None,
) -> bytes:
    """Serialise ``model`` as release ``model_version``; ``selftest`` id lists (default: a few
    deterministic ones) become the ``STST`` tensor with the reference's expected outputs; a
    ``tagger`` becomes the optional tagging section."""
    if not isinstance(model_version, int) or model_version < 1 or model_version >= 2**32:
        raise BlobInconsistentError(f"model_version must be in 1..2^32-1, got {model_version!r}")
    _check_dims(
        {"vocab_size": model.vocab_size, "max_len": model.max_len, "embed_dim": model.embed_dim,
         "hidden": model.hidden, "num_labels": model.num_labels}
    )  # fmt: skip
    if not model.spec_v1:
        raise BlobInconsistentError(
            "format version 1 carries spec v1 embeddings only (one row per token, no "
            "importance weights)"
        )
    if model.pooling != POOLING_LAST:
        raise BlobInconsistentError(
            f"format version 1 carries pooling mode {POOLING_LAST} (last) only, "
            f"the model has mode {model.pooling}"
        )
    sequences = default_selftest_ids(model) if selftest is None else selftest
    tensors = _tensors(model)
    if tagger is not None:
        if tagger.w.shape[1] != 2 * model.hidden:
            raise BlobInconsistentError(
                f"tagger width {tagger.w.shape[1]} != 2H = {2 * model.hidden}"
            )
        try:
            tensors += tagger_tensors(tagger)
        except TaggerSectionError as exc:
            raise BlobInconsistentError(str(exc)) from exc
    if sequences:
        tensors.append((SELFTEST_TAG, _selftest_tensor(selftest_cases(model, sequences))))
    labels = _label_table(model.labels)
    dir_offset = _align4(HEADER_SIZE + len(labels))
    offset = dir_offset + DIR_ENTRY_SIZE * len(tensors)
    entries, payloads = [], []
    for tag, arr in tensors:
        offset = _align4(offset)
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        dim0, dim1 = (arr.shape[0], 1) if arr.ndim == 1 else arr.shape
        entries.append(
            DIR_ENTRY.pack(tag, DTYPE_CODES[arr.dtype], arr.ndim, 0, dim0, dim1, offset, len(raw))
        )
        payloads.append((offset, raw))
        offset += len(raw)
    body = bytearray(HEADER_SIZE) + labels
    body += b"\x00" * (dir_offset - len(body))
    body += b"".join(entries)
    for start, raw in payloads:
        body += b"\x00" * (start - len(body))  # alignment padding
        body += raw
    body += b"\x00" * (_align4(len(body)) - len(body))
    total = len(body) + CRC_SIZE
    body[:HEADER_SIZE] = HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        HEADER_SIZE,
        model_version,
        total,
        model.vocab_size,
        model.max_len,
        model.embed_dim,
        model.hidden,
        model.num_labels,
        POOLING_LAST,
        TOKENIZER_VERSION,
        model.input_scale,
        HEADER_SIZE,
        len(labels),
        dir_offset,
        len(tensors),
        LOGIT_FRAC_BITS,
        bytes(12),
    )
    return bytes(body) + struct.pack("<I", zlib.crc32(body))


def restamp_blob(data: bytes, model_version: int) -> bytes:
    """``data`` as release ``model_version``: only the header's ``model_version`` field and the
    trailing CRC-32 change (no other field derives from the version), so the tensors and the
    ``STST`` self-test stay byte for byte. A rollback re-releases earlier weights this way,
    under a version the devices accept. The result is validated with :func:`read_blob`."""
    if not isinstance(model_version, int) or model_version < 1 or model_version >= 2**32:
        raise BlobInconsistentError(f"model_version must be in 1..2^32-1, got {model_version!r}")
    read_blob(data)  # refuse to re-stamp what is not a valid blob
    fields = list(HEADER.unpack_from(data, 0))
    fields[3] = model_version
    body = bytearray(data[:-CRC_SIZE])
    body[:HEADER_SIZE] = HEADER.pack(*fields)
    out = bytes(body) + struct.pack("<I", zlib.crc32(body))
    if read_blob(out).model_version != model_version:
        raise BlobInconsistentError("the re-stamped model_version did not read back")
    return out


# ---------------------------------------------------------------------------------------------
# Reader

# (field, low, high) for the header's dimension fields, inclusive.
DIM_RANGES = {
    "vocab_size": (16, 65535),
    "max_len": (1, 1024),
    "embed_dim": (1, 256),
    "hidden": (1, 256),
    "num_labels": (2, 255),
}


def _check_dims(dims: dict[str, int]) -> None:
    for name, (low, high) in DIM_RANGES.items():
        if not low <= dims[name] <= high:
            raise BlobInconsistentError(f"header {name}={dims[name]} outside {low}..{high}")


@dataclass(frozen=True)
class _Entry:
    tag: bytes
    dtype: int
    ndim: int
    dim0: int
    dim1: int
    offset: int
    nbytes: int


def _read_labels(data: bytes, start: int, size: int, count: int) -> tuple[str, ...]:
    labels: list[str] = []
    pos, end = start, start + size
    for k in range(count):
        if pos >= end:
            raise BlobInconsistentError(f"label table ends before label {k} of {count}")
        n = data[pos]
        if not 1 <= n <= MAX_LABEL_BYTES or pos + 1 + n > end:
            raise BlobInconsistentError(f"label {k} has length {n} (1..64, inside the table)")
        raw = data[pos + 1 : pos + 1 + n]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BlobInconsistentError(f"label {k} is not valid UTF-8") from exc
        if "\x00" in text:
            raise BlobInconsistentError(f"label {k} contains NUL")
        labels.append(text)
        pos += 1 + n
    if _align4(pos - start) != size:
        raise BlobInconsistentError(f"label table size {size} != its padded content")
    if len(set(labels)) != len(labels):
        raise BlobInconsistentError("labels are not distinct")
    return tuple(labels)


def _read_directory(data: bytes, dir_offset: int, count: int, limit: int) -> list[_Entry]:
    if dir_offset + DIR_ENTRY_SIZE * count > limit:
        raise BlobInconsistentError(f"directory of {count} entries runs past the tensor area")
    dir_end = dir_offset + DIR_ENTRY_SIZE * count
    entries: list[_Entry] = []
    for k in range(count):
        tag, dtype, ndim, _reserved, dim0, dim1, offset, nbytes = DIR_ENTRY.unpack_from(
            data, dir_offset + DIR_ENTRY_SIZE * k
        )
        if dtype not in DTYPES or ndim not in (1, 2) or (ndim == 1 and dim1 != 1):
            raise BlobInconsistentError(f"tensor {tag!r}: dtype {dtype} / ndim {ndim} invalid")
        if nbytes != dim0 * dim1 * DTYPES[dtype].itemsize:
            raise BlobInconsistentError(f"tensor {tag!r}: nbytes {nbytes} != dim0*dim1*size")
        if offset % 4 or offset < dir_end or offset + nbytes > limit:
            raise BlobInconsistentError(f"tensor {tag!r} misaligned or outside the blob")
        entries.append(_Entry(tag, dtype, ndim, dim0, dim1, offset, nbytes))
    spans = sorted((e.offset, e.offset + e.nbytes, e.tag) for e in entries if e.nbytes)
    for (_, end_a, tag_a), (start_b, _, tag_b) in itertools.pairwise(spans):
        if start_b < end_a:
            raise BlobInconsistentError(f"tensors {tag_a!r} and {tag_b!r} overlap")
    return entries


def _tensor(data: bytes, entry: _Entry, dtype: int, shape: tuple[int, ...]) -> np.ndarray:
    dims = (entry.dim0,) if entry.ndim == 1 else (entry.dim0, entry.dim1)
    if entry.dtype != dtype or dims != shape:
        raise BlobInconsistentError(
            f"tensor {entry.tag!r} is dtype {entry.dtype} {dims}, expected dtype {dtype} {shape}"
        )
    count = entry.dim0 * entry.dim1
    arr = np.frombuffer(data, dtype=DTYPES[dtype], count=count, offset=entry.offset)
    return arr.reshape(shape).astype(DTYPES[dtype].newbyteorder("="))


def _read_selftest(words: np.ndarray, vocab: int, num_labels: int) -> tuple[SelfTestCase, ...]:
    cases: list[SelfTestCase] = []
    pos = 0
    while pos < len(words):
        t = int(words[pos])
        if t < 0 or pos + 1 + t + 1 + num_labels > len(words):
            raise BlobInconsistentError(f"STST record at word {pos} runs past the tensor")
        ids = tuple(int(v) for v in words[pos + 1 : pos + 1 + t])
        label = int(words[pos + 1 + t])
        logits = tuple(int(v) for v in words[pos + 2 + t : pos + 2 + t + num_labels])
        if any(not 0 <= i < vocab for i in ids) or not 0 <= label < num_labels:
            raise BlobInconsistentError(f"STST record at word {pos} has ids or label out of range")
        cases.append(SelfTestCase(ids, label, logits))
        pos += 2 + t + num_labels
    return tuple(cases)


def read_blob(data: bytes) -> Blob:
    """Validate and parse a blob; raises a :class:`BlobError` subclass naming the first fault."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise BlobTruncatedError(f"{len(data)} bytes is shorter than the {HEADER_SIZE}-byte header")
    (
        magic,
        version,
        header_size,
        model_version,
        total_size,
        vocab,
        max_len,
        embed,
        hidden,
        num_labels,
        pooling,
        tok_version,
        input_scale,
        labels_offset,
        labels_size,
        dir_offset,
        tensor_count,
        frac_bits,
        _reserved,
    ) = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise BlobMagicError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise BlobVersionError(f"unsupported format version {version} (this reader knows 1)")
    if total_size > len(data):
        raise BlobTruncatedError(f"header says {total_size} bytes, got {len(data)}")
    if total_size < len(data):
        raise BlobOversizedError(f"header says {total_size} bytes, got {len(data)}")
    if total_size < HEADER_SIZE + CRC_SIZE:
        raise BlobTruncatedError(f"total_size {total_size} leaves no room for the CRC")
    (stored_crc,) = struct.unpack_from("<I", data, total_size - CRC_SIZE)
    if zlib.crc32(data[: total_size - CRC_SIZE]) != stored_crc:
        raise BlobCRCError("CRC-32 mismatch")

    # 1. Header fields.
    _check_dims(
        {"vocab_size": vocab, "max_len": max_len, "embed_dim": embed, "hidden": hidden,
         "num_labels": num_labels}
    )  # fmt: skip
    limit = total_size - CRC_SIZE
    problems = [
        (header_size != HEADER_SIZE, f"header_size {header_size} != 64"),
        (model_version < 1, "model_version must be >= 1"),
        (pooling != POOLING_LAST, f"pooling {pooling} unknown (0 only)"),
        (tok_version != TOKENIZER_VERSION, f"tokenizer_version {tok_version} unknown"),
        (labels_offset != HEADER_SIZE, f"labels_offset {labels_offset} != 64"),
        (labels_offset + labels_size > limit, "label table outside the blob"),
        (dir_offset != _align4(labels_offset + labels_size), "dir_offset misplaced"),
        (frac_bits != LOGIT_FRAC_BITS, f"logit_frac_bits {frac_bits} != 10"),
    ]
    for bad, why in problems:
        if bad:
            raise BlobInconsistentError(why)

    # 2. Labels and directory.
    labels = _read_labels(data, labels_offset, labels_size, num_labels)
    entries = _read_directory(data, dir_offset, tensor_count, limit)
    by_tag: dict[bytes, _Entry] = {}
    for e in entries:
        if e.tag in REQUIRED_TAGS or e.tag == SELFTEST_TAG or e.tag in TAGGER_TAGS:
            if e.tag in by_tag:
                raise BlobInconsistentError(f"tensor {e.tag!r} appears twice")
            by_tag[e.tag] = e
    missing = [t.decode() for t in REQUIRED_TAGS if t not in by_tag]
    if missing:
        raise BlobInconsistentError(f"required tensors missing: {missing}")

    # 3. Tensors with the shapes the header implies.
    V, E, H, C = vocab, embed, hidden, num_labels

    def get(tag: bytes, dtype: int, *shape: int) -> np.ndarray:
        return _tensor(data, by_tag[tag], dtype, shape)

    directions = [
        DirectionTensors(
            wx=get(p + b"WX ", 1, 4 * H, E),
            wh=get(p + b"WH ", 1, 4 * H, H),
            b=get(p + b"B  ", 3, 4 * H),
            mx=get(p + b"MX ", 3, 4 * H),
            nx=get(p + b"NX ", 3, 4 * H),
            mh=get(p + b"MH ", 3, 4 * H),
            nh=get(p + b"NH ", 3, 4 * H),
        )
        for p in (b"F", b"B")
    ]
    try:
        model = IntegerStudent(
            emb=get(b"EMB ", 1, V, E),
            fwd=directions[0],
            bwd=directions[1],
            head_w=get(b"HW  ", 1, C, 2 * H),
            head_b=get(b"HB  ", 3, C),
            head_m=get(b"HM  ", 3, C),
            head_n=get(b"HN  ", 3, C),
            labels=labels,
            max_len=max_len,
            input_scale=float(input_scale),
        )
    except IntegerModelError as exc:
        raise BlobInconsistentError(str(exc)) from exc
    selftest: tuple[SelfTestCase, ...] = ()
    if SELFTEST_TAG in by_tag:
        st = by_tag[SELFTEST_TAG]
        if st.dtype != 3 or st.ndim != 1:
            raise BlobInconsistentError("STST must be a 1-D int32 tensor")
        selftest = _read_selftest(get(SELFTEST_TAG, 3, st.dim0), V, C)
    try:
        tagger = read_tagger(set(by_tag), lambda t: (by_tag[t].dim0, by_tag[t].dim1), get, H)
    except TaggerSectionError as exc:
        raise BlobInconsistentError(f"tagging section: {exc}") from exc
    return Blob(model_version, tok_version, model, selftest, tagger)
