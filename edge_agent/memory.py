"""Test double of :class:`edge_agent.engine.Device`: the same A/B slot rules as the C slot
manager (in-order CRC-checked chunks, SHA-256, anti-rollback, trial boot with the blob's
STST self-test) on the numpy integer reference ``models.intlstm``."""

from __future__ import annotations

import hashlib
import time
import zlib
from typing import Any, NoReturn

from contract.limits import SLOT_BYTES
from edge_agent.engine import (
    NO_SLOT,
    Device,
    Prediction,
    SlotState,
    entities_from_tags,
    topk_probs,
)
from edge_agent.errors import EngineError
from models.blob import (
    Blob,
    BlobCRCError,
    BlobError,
    BlobMagicError,
    BlobTokenizerVersionError,
    BlobVersionError,
    check_versions,
    read_blob,
)
from models.intlstm import integer_logits
from models.inttagger import integer_tags
from models.tokenizer import Tokenizer

# The C reader's status for each reason the Python reader gives (firmware/include/tl_status.h).
BLOB_STATUS: dict[type[BlobError], str] = {
    BlobMagicError: "TL_ERR_BAD_MAGIC",
    BlobVersionError: "TL_ERR_UNSUPPORTED",
    BlobTokenizerVersionError: "TL_ERR_UNSUPPORTED_TOKENIZER",
    BlobCRCError: "TL_ERR_BAD_CRC",
}


def blob_status(exc: BlobError) -> str:
    return BLOB_STATUS.get(type(exc), "TL_ERR_INCONSISTENT")


class MemoryDevice(Device):
    def __init__(self) -> None:
        self.slots: list[bytes | None] = [None, None]
        self.active = NO_SLOT
        self.trial = NO_SLOT
        self.floor = 0
        self._staging: dict[str, Any] | None = None
        self._blob: Blob | None = None
        self.fail_selftest = False  # makes the next trial boot's self-test fail

    def _fail(self, status: str, what: str) -> NoReturn:
        raise EngineError(f"{what} failed: {status}", status=status)

    def begin(self, version: int, size: int, sha256: bytes) -> None:
        if version <= self.floor:
            self._fail("TL_ERR_ROLLBACK", "begin")
        if size > SLOT_BYTES:
            self._fail("TL_ERR_TOO_LARGE", "begin")
        target = 0 if self.active == 1 else 1 if self.active == 0 else 0
        self._staging = {"version": version, "size": size, "sha": sha256, "slot": target,
                         "data": bytearray()}  # fmt: skip
        self.slots[target] = None

    def write_chunk(self, offset: int, data: bytes, crc32: int) -> None:
        staging = self._staging
        if staging is None:
            self._fail("TL_ERR_STATE", "chunk")
        if offset != len(staging["data"]):
            self._fail("TL_ERR_CHUNK_ORDER", f"chunk at {offset}")
        if zlib.crc32(data) != crc32:
            self._fail("TL_ERR_CHUNK_CRC", f"chunk at {offset}")
        if offset == 0:  # the firmware checks the versions at the first chunk
            try:
                check_versions(data)
            except BlobError as exc:
                self._staging = None
                status = blob_status(exc)
                raise EngineError(f"chunk at 0 failed: {status} ({exc})", status=status) from exc
        staging["data"] += data

    def finish(self) -> None:
        staging, self._staging = self._staging, None
        if staging is None:
            self._fail("TL_ERR_STATE", "finish")
        data = bytes(staging["data"])
        if len(data) != staging["size"] or hashlib.sha256(data).digest() != staging["sha"]:
            self._fail("TL_ERR_DIGEST", "finish")
        try:
            blob = read_blob(data)
        except BlobError as exc:
            status = blob_status(exc)
            raise EngineError(f"finish failed: {status} ({exc})", status=status) from exc
        if blob.model_version != staging["version"]:
            self._fail("TL_ERR_INCONSISTENT", "finish")
        self.slots[staging["slot"]] = data
        self.trial = staging["slot"]

    def boot(self) -> int:
        if self.trial != NO_SLOT:
            trial, self.trial = self.trial, NO_SLOT
            blob = read_blob(self.slots[trial])  # type: ignore[arg-type]
            if self._selftest(blob):
                self.active, self.floor = trial, blob.model_version
            else:
                self.slots[trial] = None
        if self.active == NO_SLOT:
            self._fail("TL_ERR_NO_MODEL", "boot")
        self._blob = read_blob(self.slots[self.active])  # type: ignore[arg-type]
        return self._blob.model_version

    def _selftest(self, blob: Blob) -> bool:
        if self.fail_selftest:
            self.fail_selftest = False
            return False
        for case in blob.selftest:
            logits = integer_logits(blob.model, [list(case.hashes)])[0]
            if tuple(int(v) for v in logits) != case.logits:
                return False
        return True

    def state(self) -> SlotState:
        running = self._blob.model_version if self._blob else 0
        return SlotState(self.active, self.trial, running, self.floor)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._blob.model.labels) if self._blob else ()

    def classify(self, text: str, k: int = 3) -> Prediction:
        blob = self._blob
        if blob is None:
            self._fail("TL_ERR_NO_MODEL", "classify")
        model = blob.model
        start = time.perf_counter_ns()
        ids = Tokenizer(max_len=model.max_len).encode(text)
        logits = integer_logits(model, [ids])[0]
        tags = integer_tags(model, blob.tagger, [ids])[0] if blob.tagger else None
        latency_us = (time.perf_counter_ns() - start) // 1000
        topk = topk_probs(self.labels, [int(v) for v in logits], k)
        entities = None
        if blob.tagger is not None and tags is not None:
            types = blob.tagger.entity_types
            entities = entities_from_tags(text, tags, types, model.max_len)
        return Prediction(topk[0][0], topk[0][1], topk, int(latency_us), entities)
