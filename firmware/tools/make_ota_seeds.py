"""Write the OTA chunk-sequence fuzzer's seeds: each small valid blob of the blob fuzzer's seed
corpus behind a script that installs it the way a good rollout does (begin with the blob's own
version, size and SHA-256, every chunk in order with its CRC, finish, reboot, boot with the
self-test), in the input format of ``fuzz/fuzz_ota_chunks.c``.

    python firmware/tools/make_ota_seeds.py BLOB_SEED_DIR OUT_DIR
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

BEGIN, WRITE_NEXT, FINISH, BOOT, REBOOT, BOOT_SELFTEST = 0, 1, 3, 4, 7, 9


def script(blob: bytes, chunk: int) -> bytes:
    ops = bytes([BEGIN, 0]) + bytes(4)  # how=0: the image's version, size and digest
    for offset in range(0, len(blob), chunk):
        length = min(chunk, len(blob) - offset)
        ops += bytes([WRITE_NEXT]) + struct.pack("<H", length - 1) + bytes([0])
    ops += bytes([FINISH, REBOOT, BOOT_SELFTEST, BOOT])
    return struct.pack("<H", len(blob)) + blob + ops


def main(argv: list[str]) -> int:
    blobs, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(blobs.glob("*.blob")):
        for chunk in (64, 256):
            (out / f"{path.stem}-{chunk}.ota").write_bytes(script(path.read_bytes(), chunk))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
