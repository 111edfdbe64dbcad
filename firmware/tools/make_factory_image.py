"""Write the OTA metadata record of a factory-provisioned device: slot A holds BLOB, confirmed,
anti-rollback floor at the blob's model version (the layout of tl_ota_meta_t in tl_ota.h).

    python firmware/tools/make_factory_image.py model.blob OUT_META.bin
"""

from __future__ import annotations

import hashlib
import struct
import sys
import zlib
from pathlib import Path

MAGIC = 0x4D4F4C54  # "TLOM"
NONE = 0xFFFFFFFF
# magic seq active trial attempts floor slot_version[2] slot_size[2] slot_sha[2][32]; then crc
RECORD = struct.Struct("<6I2I2I32s32s")


def meta_record(blob: bytes) -> bytes:
    version = struct.unpack_from("<I", blob, 8)[0]
    body = RECORD.pack(
        MAGIC, 1, 0, NONE, 0, version, version, 0, len(blob), 0,
        hashlib.sha256(blob).digest(), bytes(32),
    )  # fmt: skip
    return body + struct.pack("<I", zlib.crc32(body))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        raise SystemExit(__doc__)
    Path(argv[1]).write_bytes(meta_record(Path(argv[0]).read_bytes()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
