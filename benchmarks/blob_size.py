"""Model blob size per record for a student configuration, against one OTA slot.

An untrained student of the given shape is converted and written as a blob (the size does not
depend on the weights' values); the JSON lists every tensor's bytes from the blob's directory,
the total and how far it is from the 384 KiB slot (``docs/model-blob.md``).

    python -m benchmarks.blob_size [--labels 77] [--hashes K] [--buckets P] [--pooling last]
                                   [--vocab V] [--embed E] [--hidden H]

Every option but ``--labels`` (Banking77's 77) defaults to the student's default configuration
(``models.student.StudentConfig``: the hash embedding with K = 2 and P = 4096, last pooling).
"""

from __future__ import annotations

import argparse
import json
import struct
from typing import Any

SLOT_BYTES = 384 * 1024  # one OTA model slot (firmware/m4/stm32f405_device.ld)


def blob_size(labels: int, hashes: int, buckets: int, pooling: str, vocab: int, embed: int,
              hidden: int) -> dict[str, Any]:  # fmt: skip
    """Sizes of the blob of an untrained student with this configuration."""
    import torch

    from models.blob import DIR_ENTRY, write_blob
    from models.quantize import quantize_student
    from models.student import StudentConfig, TinyLSTM

    torch.manual_seed(0)
    config = StudentConfig(num_labels=labels, vocab_size=vocab, embed_dim=embed, hidden=hidden,
                           hashes=hashes, buckets=buckets, pooling=pooling)  # fmt: skip
    names = tuple(f"label-{k:02d}" for k in range(labels))
    blob = write_blob(quantize_student(TinyLSTM(config).eval(), names), model_version=1)
    dir_offset, count = struct.unpack_from("<II", blob, 40)
    tensors = {}
    for k in range(count):
        tag, *_, nbytes = DIR_ENTRY.unpack_from(blob, dir_offset + DIR_ENTRY.size * k)
        tensors[tag.decode().strip()] = nbytes
    shape = {"labels": labels, "hashes": hashes, "buckets": buckets, "pooling": pooling,
             "vocab": vocab, "embed": embed, "hidden": hidden}  # fmt: skip
    return {
        "config": shape,
        "blob_bytes": len(blob),
        "tensor_bytes": tensors,
        "other_bytes": len(blob) - sum(tensors.values()),  # header, labels, directory, padding
        "slot_bytes": SLOT_BYTES,
        "over_slot_bytes": len(blob) - SLOT_BYTES,
        "fits_slot": len(blob) <= SLOT_BYTES,
    }


def main(argv: list[str] | None = None) -> int:
    from dataclasses import fields

    from models.student import StudentConfig

    default = {f.name: f.default for f in fields(StudentConfig)}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=77)
    parser.add_argument("--hashes", type=int, default=default["hashes"])
    parser.add_argument("--buckets", type=int, default=default["buckets"])
    parser.add_argument("--pooling", default=default["pooling"], choices=("last", "meanmax"))
    parser.add_argument("--vocab", type=int, default=default["vocab_size"])
    parser.add_argument("--embed", type=int, default=default["embed_dim"])
    parser.add_argument("--hidden", type=int, default=default["hidden"])
    a = parser.parse_args(argv)
    result = blob_size(a.labels, a.hashes, a.buckets, a.pooling, a.vocab, a.embed, a.hidden)
    print(json.dumps({"benchmark": "blob_size", **result}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
