"""The model blob (``docs/model-blob.md``, format version 3): writer and validating reader.

The blob is what OTA ships: a 64-byte header, the label table, a tensor directory, 4-byte
aligned tensors (the optional tagging section among them, ``models/blob_tagger.py``) and a
trailing CRC-32. The LSTM tensors are stored in the device kernels' layout
(``models/blob_layout.py``); :class:`Blob` always holds the spec-order integer model. The reader
refuses every malformed blob with its own subclass of :class:`BlobError`, in the order the spec
lists, and checks the CRC before it interprets anything past the header. A format or tokenizer
version this code does not implement is refused by name, never read as another.

Which tensors a blob holds is one table, :data:`TENSOR_RULES`: each rule names a tag, its dtype,
its shape as a function of the header, and the tokenizer versions that require it (or none: an
optional tensor). A new tokenizer version adds its number to :data:`TOKENIZER_VERSIONS` and its
rules to the table. The format is ours, so it is packed with ``struct``.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.blob_layout import RECORD_WIDTH, LayoutError, pack_direction, unpack_direction
from models.blob_selftest import (
    SelfTestCase,
    SelfTestRecordError,
    default_selftest_ids,
    read_selftest,
    selftest_cases,
    selftest_tensor,
)
from models.blob_tagger import TAGGER_TAGS, TaggerSectionError, read_tagger, tagger_tensors
from models.errors import ModelsError
from models.intlstm import POOLING_CODES, DirectionTensors, IntegerModelError, IntegerStudent
from models.inttagger import IntegerTagger

MAGIC = b"TLSM"
FORMAT_VERSION = 3  # what write_blob emits
FORMAT_VERSIONS = (3,)  # what read_blob (and the device firmware) implement
HEADER_SIZE = 64
DIR_ENTRY_SIZE = 24
CRC_SIZE = 4
LOGIT_FRAC_BITS = 10
TOKENIZER_VERSION = 1  # one table row per token (the spec v1 embedding)
TOKENIZER_V2 = 2  # the hash embedding: K rows per token, P importance buckets
TOKENIZER_VERSIONS = (1, 2)  # docs/tokenizer.md versions read_blob (and the firmware) implement
POOLING_LAST = 0
POOLINGS = tuple(POOLING_CODES.values())  # 0 last, 1 meanmax
MAX_LABEL_BYTES = 64
# magic, format_version, header_size, model_version, total_size, V, L, E, H, C, pooling,
# tokenizer_version, input_scale, labels_offset, labels_size, dir_offset, tensor_count,
# logit_frac_bits, hashes K, reserved, buckets P, emb_m, emb_n
HEADER = struct.Struct("<4sHHIIHHHHHBBfIIIIiBBHii")
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
    """A ``format_version`` this reader does not implement (an older or newer format)."""


class BlobTokenizerVersionError(BlobError):
    """A ``tokenizer_version`` this reader does not implement."""


class BlobCRCError(BlobError):
    """The trailing CRC-32 does not match the bytes before it."""


class BlobInconsistentError(BlobError):
    """Header fields, labels, directory or tensors disagree with each other or the spec."""


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


@dataclass(frozen=True)
class TensorRule:
    """One tensor a blob may hold: tag, dtype code, shape from the header's dimensions, and the
    tokenizer versions that require it (empty: optional; readers skip unknown tags)."""

    tag: bytes
    dtype: int  # 1 int8, 2 int16, 3 int32
    shape: tuple[str, ...]  # header dimensions: V, E, H, 4H, PW (2H or 4H), C, P, K, a literal
    required_for: tuple[int, ...]  # tokenizer versions that need it; () = optional

    def dims(self, dims: dict[str, int]) -> tuple[int, ...]:
        return tuple(dims[d] if d in dims else int(d) for d in self.shape)


def _direction_rules(prefix: bytes) -> list[TensorRule]:
    return [
        TensorRule(prefix + b"WX ", 1, ("4H", "E"), ALL),  # paired rows, gate-interleaved
        TensorRule(prefix + b"WH ", 1, ("4H", "H"), ALL),
        TensorRule(prefix + b"RQ ", 3, ("4H", str(RECORD_WIDTH)), ALL),  # requant records
    ]


ALL = TOKENIZER_VERSIONS
# Format 3, in the order writers emit them.
TENSOR_RULES: tuple[TensorRule, ...] = (
    TensorRule(b"EMB ", 1, ("V", "E"), ALL),
    TensorRule(b"IMP ", 1, ("P", "K"), (TOKENIZER_V2,)),  # importance weights (0 rows if P = 0)
    *_direction_rules(b"F"),
    *_direction_rules(b"B"),
    TensorRule(b"HW  ", 1, ("C", "PW"), ALL),
    TensorRule(b"HB  ", 3, ("C",), ALL),
    TensorRule(b"HM  ", 3, ("C",), ALL),
    TensorRule(b"HN  ", 3, ("C",), ALL),
    TensorRule(SELFTEST_TAG, 3, ("N",), ()),  # self-test records, any length
)
REQUIRED_TAGS = tuple(r.tag for r in TENSOR_RULES if TOKENIZER_VERSION in r.required_for)


def _tensors(model: IntegerStudent) -> list[tuple[bytes, np.ndarray]]:
    out: list[tuple[bytes, np.ndarray]] = [(b"EMB ", model.emb)]
    if not model.spec_v1:
        imp = model.importance
        out.append((b"IMP ", np.zeros((0, model.hashes), np.int8) if imp is None else imp))
    for prefix, d in ((b"F", model.fwd), (b"B", model.bwd)):
        try:
            wx, wh, rq = pack_direction(d.wx, d.wh, d.b, d.mx, d.nx, d.mh, d.nh)
        except LayoutError as exc:
            raise BlobInconsistentError(str(exc)) from exc
        out += [(prefix + b"WX ", wx), (prefix + b"WH ", wh), (prefix + b"RQ ", rq)]
    out += [
        (b"HW  ", model.head_w),
        (b"HB  ", model.head_b),
        (b"HM  ", model.head_m),
        (b"HN  ", model.head_n),
    ]
    return out


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
    """Serialise ``model`` as release ``model_version``; ``selftest`` token lists (table rows
    for a spec v1 model, key hashes otherwise; default: a few deterministic ones) become the
    ``STST`` tensor with the reference's expected outputs. A spec v1 embedding is tokenizer
    version 1, the hash embedding version 2. A ``tagger`` becomes the optional tagging section."""
    if not isinstance(model_version, int) or model_version < 1 or model_version >= 2**32:
        raise BlobInconsistentError(f"model_version must be in 1..2^32-1, got {model_version!r}")
    _check_dims(
        {"vocab_size": model.vocab_size, "max_len": model.max_len, "embed_dim": model.embed_dim,
         "hidden": model.hidden, "num_labels": model.num_labels}
    )  # fmt: skip
    tok_version = TOKENIZER_VERSION if model.spec_v1 else TOKENIZER_V2
    emb_m, emb_n = (0, 0) if model.spec_v1 else (model.emb_m, model.emb_n)
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
        tensors.append((SELFTEST_TAG, selftest_tensor(selftest_cases(model, sequences))))
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
        MAGIC, FORMAT_VERSION, HEADER_SIZE, model_version, total, model.vocab_size,
        model.max_len, model.embed_dim, model.hidden, model.num_labels, model.pooling,
        tok_version, model.input_scale, HEADER_SIZE, len(labels), dir_offset, len(tensors),
        LOGIT_FRAC_BITS, model.hashes, 0, model.buckets, emb_m, emb_n,
    )  # fmt: skip
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


def check_versions(head: bytes) -> None:
    """The device's first-chunk check on a blob's first bytes (``tl_blob_check_versions``):
    raise :class:`BlobMagicError`, :class:`BlobVersionError` or
    :class:`BlobTokenizerVersionError` for a blob no reader of this version implements; fewer
    than 28 bytes decide only what they hold."""
    if len(head) >= 4 and head[:4] != MAGIC:
        raise BlobMagicError(f"bad magic {bytes(head[:4])!r}, expected {MAGIC!r}")
    if len(head) >= 6 and (version := int.from_bytes(head[4:6], "little")) not in FORMAT_VERSIONS:
        raise BlobVersionError(
            f"unsupported format version {version} (this reader implements {FORMAT_VERSIONS})"
        )
    if len(head) >= 28 and head[27] not in TOKENIZER_VERSIONS:
        raise BlobTokenizerVersionError(
            f"unsupported tokenizer version {head[27]} (this reader implements "
            f"{TOKENIZER_VERSIONS})"
        )


def read_blob(data: bytes) -> Blob:
    """Validate and parse a blob; raises a :class:`BlobError` subclass naming the first fault."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise BlobTruncatedError(f"{len(data)} bytes is shorter than the {HEADER_SIZE}-byte header")
    (_magic, _version, header_size, model_version, total_size, vocab, max_len, embed, hidden,
     num_labels, pooling, tok_version, input_scale, labels_offset, labels_size, dir_offset,
     tensor_count, frac_bits, hashes, reserved, buckets, emb_m, emb_n,
    ) = HEADER.unpack_from(data, 0)  # fmt: skip
    check_versions(data[:6])
    if total_size > len(data):
        raise BlobTruncatedError(f"header says {total_size} bytes, got {len(data)}")
    if total_size < len(data):
        raise BlobOversizedError(f"header says {total_size} bytes, got {len(data)}")
    if total_size < HEADER_SIZE + CRC_SIZE:
        raise BlobTruncatedError(f"total_size {total_size} leaves no room for the CRC")
    (stored_crc,) = struct.unpack_from("<I", data, total_size - CRC_SIZE)
    if zlib.crc32(data[: total_size - CRC_SIZE]) != stored_crc:
        raise BlobCRCError("CRC-32 mismatch")
    check_versions(data[:HEADER_SIZE])

    # 1. Header fields.
    _check_dims(
        {"vocab_size": vocab, "max_len": max_len, "embed_dim": embed, "hidden": hidden,
         "num_labels": num_labels}
    )  # fmt: skip
    limit = total_size - CRC_SIZE
    problems = [
        (header_size != HEADER_SIZE, f"header_size {header_size} != 64"),
        (model_version < 1, "model_version must be >= 1"),
        (pooling not in POOLINGS, f"pooling {pooling} unknown (0 last, 1 meanmax)"),
        *_embedding_problems(tok_version, hashes, reserved, buckets, emb_m, emb_n),
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
    by_tag = _match_rules(entries, tok_version)

    # 3. Tensors with the shapes the header implies, the LSTM ones decoded from their layout.
    dims = {"V": vocab, "E": embed, "H": hidden, "4H": 4 * hidden, "C": num_labels}
    dims |= {"PW": (4 if pooling else 2) * hidden, "P": buckets, "K": hashes}

    def get(tag: bytes) -> np.ndarray:
        rule = RULES_BY_TAG[tag]
        entry = by_tag[tag]
        shape = (entry.dim0,) if rule.shape == ("N",) else rule.dims(dims)
        return _tensor(data, entry, rule.dtype, shape)

    try:
        directions = [DirectionTensors(*unpack_direction(*(get(p + t) for t in DIR_TAGS)))
                      for p in (b"F", b"B")]  # fmt: skip
        model = IntegerStudent(
            emb=get(b"EMB "),
            fwd=directions[0],
            bwd=directions[1],
            head_w=get(b"HW  "),
            head_b=get(b"HB  "),
            head_m=get(b"HM  "),
            head_n=get(b"HN  "),
            labels=labels,
            max_len=max_len,
            input_scale=float(input_scale),
            pooling=pooling,
            hashes=hashes,
            importance=get(b"IMP ") if buckets else None,
            emb_m=emb_m,
            emb_n=emb_n,
        )
    except (IntegerModelError, LayoutError) as exc:
        raise BlobInconsistentError(str(exc)) from exc
    selftest: tuple[SelfTestCase, ...] = ()
    if SELFTEST_TAG in by_tag:
        try:
            rows = tok_version == TOKENIZER_VERSION
            selftest = read_selftest(get(SELFTEST_TAG), vocab, num_labels, rows)
        except SelfTestRecordError as exc:
            raise BlobInconsistentError(str(exc)) from exc

    def get_shaped(tag: bytes, dtype: int, *shape: int) -> np.ndarray:
        return _tensor(data, by_tag[tag], dtype, shape)

    try:
        tagger = read_tagger(set(by_tag), lambda t: (by_tag[t].dim0, by_tag[t].dim1), get_shaped,
                             hidden)  # fmt: skip
    except TaggerSectionError as exc:
        raise BlobInconsistentError(f"tagging section: {exc}") from exc
    return Blob(model_version, tok_version, model, selftest, tagger)


DIR_TAGS = (b"WX ", b"WH ", b"RQ ")
RULES_BY_TAG = {r.tag: r for r in TENSOR_RULES}


def _embedding_problems(
    tok_version: int, hashes: int, reserved: int, buckets: int, emb_m: int, emb_n: int
) -> list[tuple[bool, str]]:
    """Header bytes 52..63: tokenizer version 1 has K = 1, P = 0 and no multiplier; version 2
    K in 1..4, a multiplier in [2^30, 2^31) and a shift in 1..62, and is not version 1's (1, 0)."""
    if tok_version == TOKENIZER_VERSION:
        return [((hashes, buckets, emb_m, emb_n, reserved) != (1, 0, 0, 0, 0),
                 "tokenizer version 1: hashes 1, buckets 0, no embedding multiplier")]  # fmt: skip
    return [
        (reserved != 0, "header byte 53 must be 0"),
        (not 1 <= hashes <= 4, f"hashes {hashes} outside 1..4"),
        ((hashes, buckets) == (1, 0), "tokenizer version 2 with K = 1, P = 0 is version 1"),
        (not (2**30 <= emb_m < 2**31 and 1 <= emb_n <= 62), "embedding multiplier/shift invalid"),
    ]


def _match_rules(entries: list[_Entry], tok_version: int) -> dict[bytes, _Entry]:
    """Directory entries by tag for the tags the rules and the tagging section know (unknown
    tags are skipped); a known tag twice, or a tensor the blob's tokenizer version requires
    missing, is inconsistent."""
    by_tag: dict[bytes, _Entry] = {}
    for e in entries:
        if e.tag in RULES_BY_TAG or e.tag in TAGGER_TAGS:
            if e.tag in by_tag:
                raise BlobInconsistentError(f"tensor {e.tag!r} appears twice")
            if e.tag in RULES_BY_TAG and RULES_BY_TAG[e.tag].shape == ("N",) and e.ndim != 1:
                raise BlobInconsistentError(f"tensor {e.tag!r} must be 1-D")
            by_tag[e.tag] = e
    missing = [r.tag.decode() for r in TENSOR_RULES
               if tok_version in r.required_for and r.tag not in by_tag]  # fmt: skip
    if missing:
        raise BlobInconsistentError(f"required tensors missing: {missing}")
    return by_tag
