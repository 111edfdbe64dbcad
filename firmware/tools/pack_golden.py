"""Pack the golden JSONL vectors into flat little-endian binaries the C tests read.

The host test programs read these files and the Cortex-M4 test image embeds them (no JSON
parser on the device). A generated C header stamps the test binaries with the generator,
versions and SHA-256 of the JSONL they were built against, so a test run always says which
vintage of vectors it checked.

    python firmware/tools/pack_golden.py tokenizer tests/golden/tokenizer.jsonl OUT.bin OUT.h
    python firmware/tools/pack_golden.py intlstm tests/golden/intlstm/cases.jsonl OUT.bin OUT.h
    python firmware/tools/pack_golden.py viterbi tests/golden/tagger/viterbi.jsonl OUT.bin OUT.h
    python firmware/tools/pack_golden.py tagger tests/golden/tagger/cases.jsonl OUT.bin OUT.h

Layouts (all u32 little-endian unless said otherwise; byte strings padded to 4):
  tokenizer: "TLGT" spec_version generator_version count sha256[32]
             then per case: vocab_size max_len text_len n_ids text ids(u16)
  intlstm:   "TLGI" spec_version generator_version count num_labels sha256[32]
             then per case: text_len n_ids label text ids(u16) logits(i32 x num_labels)
  viterbi:   "TLGV" spec_version generator_version count sha256[32]
             then per case: k t transitions(i32 x k*k) start(i32 x k) end(i32 x k)
             emissions(i32 x t*k) tags(u8 x t)
  tagger:    "TLGE" spec_version generator_version count sha256[32] num_blobs
             then per blob (the header's "blobs", files next to the JSONL): size bytes
             then per case: blob text_len n_tokens label num_labels k text logits(i32 x
             num_labels) tags(u8 x n_tokens) emissions(i32 x n_tokens*k)
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path


def _pad4(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def _spec_version(header: dict) -> int:
    for key in ("spec_version", "integer_lstm_spec_version"):
        if key in header:
            return int(header[key])
    raise SystemExit("the header line names no spec version")


def _load(path: Path) -> tuple[dict, list[dict], str]:
    raw = path.read_bytes()
    lines = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    if not lines or "generator" not in lines[0]:
        raise SystemExit(f"{path}: first line must be the header object with 'generator'")
    return lines[0], lines[1:], hashlib.sha256(raw).hexdigest()


def _ids(ids: list[int]) -> bytes:
    return _pad4(struct.pack(f"<{len(ids)}H", *ids))


def pack_tokenizer(header: dict, cases: list[dict], digest: str) -> bytes:
    out = [
        b"TLGT",
        struct.pack("<III", _spec_version(header), header.get("generator_version", 0), len(cases)),
    ]
    out.append(bytes.fromhex(digest))
    for c in cases:
        text = bytes.fromhex(c["hex"])
        out.append(struct.pack("<IIII", c["vocab_size"], c["max_len"], len(text), len(c["ids"])))
        out += [_pad4(text), _ids(c["ids"])]
    return b"".join(out)


def pack_intlstm(header: dict, cases: list[dict], digest: str) -> bytes:
    num_labels = len(cases[0]["logits"]) if cases else 0
    out = [
        b"TLGI",
        struct.pack(
            "<IIII",
            _spec_version(header),
            header.get("generator_version", 0),
            len(cases),
            num_labels,
        ),
    ]
    out.append(bytes.fromhex(digest))
    for c in cases:
        text = bytes.fromhex(c["hex"])
        if len(c["logits"]) != num_labels:
            raise SystemExit("every case must have the same number of logits")
        out.append(struct.pack("<III", len(text), len(c["ids"]), c["label"]))
        out += [_pad4(text), _ids(c["ids"]), struct.pack(f"<{num_labels}i", *c["logits"])]
    return b"".join(out)


def pack_viterbi(header: dict, cases: list[dict], digest: str) -> bytes:
    out = [
        b"TLGV",
        struct.pack("<III", _spec_version(header), header.get("generator_version", 0), len(cases)),
        bytes.fromhex(digest),
    ]
    for c in cases:
        k, t = c["k"], c["t"]
        if len(c["emissions"]) != k * t or len(c["tags"]) != t or len(c["transitions"]) != k * k:
            raise SystemExit("a viterbi case's arrays do not match its k and t")
        out.append(struct.pack("<II", k, t))
        for name in ("transitions", "start", "end", "emissions"):
            out.append(struct.pack(f"<{len(c[name])}i", *c[name]))
        out.append(_pad4(bytes(c["tags"])))
    return b"".join(out)


def pack_tagger(header: dict, cases: list[dict], digest: str, folder: Path) -> bytes:
    blobs = [(folder / name).read_bytes() for name in header["blobs"]]
    out = [
        b"TLGE",
        struct.pack("<III", _spec_version(header), header.get("generator_version", 0), len(cases)),
        bytes.fromhex(digest),
        struct.pack("<I", len(blobs)),
    ]
    for blob in blobs:
        out += [struct.pack("<I", len(blob)), _pad4(blob)]
    for c in cases:
        text, k, t = bytes.fromhex(c["hex"]), c["k"], len(c["tags"])
        if len(c["emissions"]) != k * t or not 0 <= c["blob"] < len(blobs):
            raise SystemExit("a tagger case's emissions do not match its k and tags")
        out.append(struct.pack("<6I", c["blob"], len(text), t, c["label"], len(c["logits"]), k))
        out += [_pad4(text), struct.pack(f"<{len(c['logits'])}i", *c["logits"])]
        out += [_pad4(bytes(c["tags"])), struct.pack(f"<{k * t}i", *c["emissions"])]
    return b"".join(out)


PACKERS = {"tokenizer": pack_tokenizer, "intlstm": pack_intlstm, "viterbi": pack_viterbi}


def stamp(kind: str, header: dict, digest: str) -> str:
    name = kind.upper()
    gen = json.dumps(str(header["generator"]))
    return (
        f"/* GENERATED by firmware/tools/pack_golden.py from the {kind} golden vectors. */\n"
        f"#define TL_GOLDEN_{name}_GENERATOR {gen}\n"
        f"#define TL_GOLDEN_{name}_GENERATOR_VERSION {int(header.get('generator_version', 0))}u\n"
        f"#define TL_GOLDEN_{name}_SPEC_VERSION {_spec_version(header)}u\n"
        f'#define TL_GOLDEN_{name}_SHA256 "{digest}"\n'
    )


def main(argv: list[str]) -> int:
    if len(argv) != 4 or (argv[0] not in PACKERS and argv[0] != "tagger"):
        raise SystemExit(__doc__)
    kind, src, out_bin, out_h = argv[0], Path(argv[1]), Path(argv[2]), Path(argv[3])
    header, cases, digest = _load(src)
    if kind == "tagger":
        packed = pack_tagger(header, cases, digest, src.parent)
    else:
        packed = PACKERS[kind](header, cases, digest)
    out_bin.parent.mkdir(parents=True, exist_ok=True)
    out_bin.write_bytes(packed)
    out_h.write_text(stamp(kind, header, digest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
