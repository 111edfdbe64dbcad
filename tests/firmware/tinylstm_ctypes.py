"""ctypes view of ``firmware/build/host/libtinylstm.so`` (its C ABI is ``tl_capi.h``), used by
the firmware tests to drive the C engine and the slot manager from Python."""

from __future__ import annotations

import ctypes
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

U8P = ctypes.POINTER(ctypes.c_uint8)
U32 = ctypes.c_uint32
NONE = 0xFFFFFFFF


class FirmwareError(RuntimeError):
    """A C call returned a non-zero tl_status_t."""

    def __init__(self, status: int, what: str) -> None:
        super().__init__(f"{what}: status {status}")
        self.status = status


@dataclass(frozen=True)
class Result:
    label: int
    logits: list[int]
    confidence: float
    ids: list[int]


@dataclass(frozen=True)
class Tagged:
    label: int
    logits: list[int]
    tags: list[int]
    emissions: list[list[int]]  # [T][K] int32 Q.10


def _buf(data: bytes) -> ctypes.Array[ctypes.c_char]:
    """A malloc-aligned copy (the C side needs 4-byte aligned blobs)."""
    return ctypes.create_string_buffer(data, len(data) or 1)


class TinyLSTMLib:
    def __init__(self, path: Path) -> None:
        self.lib = ctypes.CDLL(str(path))
        self.lib.tl_api_status_str.restype = ctypes.c_char_p
        self.lib.tl_api_engine_size.restype = ctypes.c_size_t
        self.lib.tl_api_device_size.restype = ctypes.c_size_t
        self.lib.tl_api_device_engine.restype = ctypes.c_void_p
        self.lib.tl_api_device_engine.argtypes = [ctypes.c_void_p]

    def check(self, status: int, what: str) -> None:
        if status != 0:
            name = self.lib.tl_api_status_str(status).decode()
            raise FirmwareError(status, f"{what}: {name}")

    def tokenize(self, text: bytes, vocab_size: int, max_len: int) -> list[int]:
        ids = (ctypes.c_uint16 * max_len)()
        n = U32()
        self.check(
            self.lib.tl_api_tokenize(
                _buf(text),
                ctypes.c_size_t(len(text)),
                U32(vocab_size),
                U32(max_len),
                ids,
                U32(max_len),
                ctypes.byref(n),
            ),
            "tokenize",
        )
        return list(ids[: n.value])

    def engine(self, blob: bytes) -> Engine:
        return Engine(self, blob)

    def device(self) -> Device:
        return Device(self)


class Engine:
    def __init__(self, lib: TinyLSTMLib, blob: bytes | None, ctx: int | None = None) -> None:
        self.lib = lib
        if ctx is not None:
            self.ctx: ctypes.c_void_p | ctypes.Array[ctypes.c_char] = ctypes.c_void_p(ctx)
        else:
            assert blob is not None
            self.blob = _buf(blob)  # kept alive: the engine points into it
            self.ctx = ctypes.create_string_buffer(lib.lib.tl_api_engine_size())
            lib.check(
                lib.lib.tl_api_engine_init(self.ctx, self.blob, ctypes.c_size_t(len(blob))),
                "engine init",
            )
        v, vocab, max_len, labels = U32(), U32(), U32(), U32()
        lib.check(
            lib.lib.tl_api_engine_info(
                self.ctx, *(ctypes.byref(x) for x in (v, vocab, max_len, labels))
            ),
            "engine info",
        )
        self.model_version, self.vocab_size = v.value, vocab.value
        self.max_len, self.num_labels = max_len.value, labels.value

    def label(self, k: int) -> str:
        buf = ctypes.create_string_buffer(260)
        n = U32()
        self.lib.check(
            self.lib.lib.tl_api_engine_label(
                self.ctx, U32(k), buf, ctypes.c_size_t(260), ctypes.byref(n)
            ),
            "label",
        )
        return buf.raw[: n.value].decode()

    def selftest(self) -> int:
        return int(self.lib.lib.tl_api_engine_selftest(self.ctx))

    def classify(self, text: bytes) -> Result:
        logits = (ctypes.c_int32 * self.num_labels)()
        ids = (ctypes.c_uint16 * self.max_len)()
        label, n, conf = U32(), U32(), ctypes.c_float()
        self.lib.check(
            self.lib.lib.tl_api_classify(
                self.ctx,
                _buf(text),
                ctypes.c_size_t(len(text)),
                ctypes.byref(label),
                logits,
                U32(self.num_labels),
                ctypes.byref(conf),
                ids,
                U32(self.max_len),
                ctypes.byref(n),
            ),
            "classify",
        )
        return Result(label.value, list(logits), conf.value, list(ids[: n.value]))

    def tagger(self) -> tuple[int, bytes]:
        """(K, entity type names table) of the tagging section; K = 0 without one."""
        k, size = U32(), U32()
        buf = ctypes.create_string_buffer(4096)
        self.lib.check(
            self.lib.lib.tl_api_engine_tagger(
                self.ctx, ctypes.byref(k), buf, U32(4096), ctypes.byref(size)
            ),
            "tagger",
        )
        return k.value, buf.raw[: size.value]

    def tag(self, text: bytes) -> Tagged:
        k = self.tagger()[0]
        logits = (ctypes.c_int32 * self.num_labels)()
        tags = (ctypes.c_uint8 * self.max_len)()
        emissions = (ctypes.c_int32 * (self.max_len * max(k, 1)))()
        label, n, conf = U32(), U32(), ctypes.c_float()
        self.lib.check(
            self.lib.lib.tl_api_classify_tagged(
                self.ctx,
                _buf(text),
                ctypes.c_size_t(len(text)),
                ctypes.byref(label),
                logits,
                U32(self.num_labels),
                ctypes.byref(conf),
                ctypes.byref(n),
                tags,
                U32(self.max_len),
                emissions,
                U32(self.max_len * k),
            ),
            "classify_tagged",
        )
        t = n.value
        rows = [list(emissions[i * k : (i + 1) * k]) for i in range(t)]
        return Tagged(label.value, list(logits), list(tags[:t]), rows)


class Device:
    """The slot manager over a simulated 1 MiB STM32F405 flash held in a Python buffer."""

    def __init__(self, lib: TinyLSTMLib) -> None:
        self.lib = lib
        size = lib.lib.tl_api_device_flash_size()
        self.flash = ctypes.create_string_buffer(b"\xff" * size, size)
        self.ctx = ctypes.create_string_buffer(lib.lib.tl_api_device_size())
        self.reboot()

    def reboot(self) -> None:
        """A fresh device context over the same flash (what a reset does)."""
        ctypes.memset(self.ctx, 0, len(self.ctx))
        self.lib.check(
            self.lib.lib.tl_api_device_init(self.ctx, self.flash, U32(len(self.flash))), "init"
        )

    def install(self, blob: bytes, version: int, chunk: int = 4096) -> None:
        sha = (ctypes.c_uint8 * 32)(*hashlib.sha256(blob).digest())
        self.lib.check(
            self.lib.lib.tl_api_device_begin(self.ctx, U32(version), U32(len(blob)), sha), "begin"
        )
        for off in range(0, len(blob), chunk):
            part = blob[off : off + chunk]
            self.lib.check(
                self.lib.lib.tl_api_device_write_chunk(
                    self.ctx, U32(off), _buf(part), U32(len(part)), U32(zlib.crc32(part))
                ),
                "write chunk",
            )
        self.lib.check(self.lib.lib.tl_api_device_finish(self.ctx), "finish")

    def boot(self) -> int:
        return int(self.lib.lib.tl_api_device_boot(self.ctx))

    def state(self) -> tuple[int, int, int, int]:
        vals = [U32() for _ in range(4)]
        self.lib.check(
            self.lib.lib.tl_api_device_state(self.ctx, *(ctypes.byref(v) for v in vals)), "state"
        )
        return tuple(v.value for v in vals)  # type: ignore[return-value]

    def engine(self) -> Engine:
        ptr = self.lib.lib.tl_api_device_engine(self.ctx)
        assert ptr, "no model booted"
        return Engine(self.lib, None, ctx=ptr)
