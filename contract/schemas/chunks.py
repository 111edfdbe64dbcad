"""The OTA chunk protocol: a device requests ``{"version", "offset", "length"}`` on
``fleet/<id>/ota/req``; the server answers on ``fleet/<id>/ota/chunk`` with the bytes (base64)
and their CRC-32. The device writes a chunk only when the CRC matches and the offset is the
next one it expects, so after a reconnect it simply asks again from its last good offset.
"""

from __future__ import annotations

import base64
import zlib
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from contract.limits import MAX_CHUNK
from contract.schemas.base import UINT32_MAX, Message, ReleaseVersion, parse

Offset = Annotated[int, Field(ge=0, le=UINT32_MAX)]  # the C slot manager counts in uint32
# standard base64 of at most MAX_CHUNK bytes: anything else is refused when parsed
Base64 = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$", max_length=4 * (MAX_CHUNK // 3 + 1)),
]


class ChunkRequest(Message):
    schema_version: Literal[1] = 1
    version: ReleaseVersion  # release the bytes belong to
    offset: Offset
    length: int = Field(ge=1, le=MAX_CHUNK)


class Chunk(Message):
    schema_version: Literal[1] = 1
    version: ReleaseVersion
    offset: Offset
    total: int = Field(ge=1, le=UINT32_MAX)  # blob size, so the device knows when it is done
    data_b64: Base64  # the bytes, standard base64
    crc32: int = Field(ge=0, le=0xFFFFFFFF)  # zlib.crc32 of the bytes

    def data(self) -> bytes:
        """The bytes; binascii.Error when the padding is wrong (the alphabet is checked on
        parsing)."""
        return base64.b64decode(self.data_b64, validate=True)


def make_chunk(version: int, blob: bytes, offset: int, length: int) -> Chunk:
    data = blob[offset : offset + min(length, MAX_CHUNK)]
    return Chunk(
        version=version, offset=offset, total=len(blob),
        data_b64=base64.b64encode(data).decode("ascii"), crc32=zlib.crc32(data),
    )  # fmt: skip


def parse_chunk_request(raw: bytes) -> ChunkRequest:
    return parse(ChunkRequest, raw)


def parse_chunk(raw: bytes) -> Chunk:
    return parse(Chunk, raw)
