"""The real engine: ``libtinylstm.so`` (firmware host build) through its flat C ABI
(``firmware/include/tl_capi.h``) with ctypes. Each :class:`CDevice` owns a RAM flash image
and a device context, exactly the state a microcontroller keeps."""

from __future__ import annotations

import ctypes
import functools
import os
import subprocess
import threading
import time
from pathlib import Path

from edge_agent.engine import Device, Prediction, SlotState, entities_from_tags, topk_probs
from edge_agent.errors import EngineError

REPO_ROOT = Path(__file__).resolve().parents[1]
LIB_ENV = "FLEET_TINYLSTM_LIB"  # overrides the library path
DEFAULT_LIB = REPO_ROOT / "firmware" / "build" / "host" / "libtinylstm.so"
API_VERSION = 3

u8p = ctypes.POINTER(ctypes.c_uint8)
u32p = ctypes.POINTER(ctypes.c_uint32)
_build_lock = threading.Lock()
# tl_status_t codes of firmware/include/tl_status.h
STATUS_NAMES = {
    0: "TL_OK",
    -1: "TL_ERR_ARG",
    -2: "TL_ERR_BUFFER",
    -3: "TL_ERR_TRUNCATED",
    -4: "TL_ERR_BAD_MAGIC",
    -5: "TL_ERR_UNSUPPORTED",
    -6: "TL_ERR_OVERSIZED",
    -7: "TL_ERR_BAD_CRC",
    -8: "TL_ERR_INCONSISTENT",
    -9: "TL_ERR_MISALIGNED",
    -10: "TL_ERR_FLASH",
    -11: "TL_ERR_CHUNK_CRC",
    -12: "TL_ERR_CHUNK_ORDER",
    -13: "TL_ERR_DIGEST",
    -14: "TL_ERR_ROLLBACK",
    -15: "TL_ERR_STATE",
    -16: "TL_ERR_NO_MODEL",
    -17: "TL_ERR_SELFTEST",
    -18: "TL_ERR_TOO_LARGE",
    -19: "TL_ERR_UNSUPPORTED_TOKENIZER",
}


def _stale(lib: Path) -> bool:
    """The default library is missing or older than a firmware source (a checkout that moved
    on since the last build would otherwise load the old ABI)."""
    if not lib.exists():
        return True
    built = lib.stat().st_mtime
    firmware = REPO_ROOT / "firmware"
    sources = [*firmware.glob("src/*.[ch]"), *firmware.glob("include/*.h")]
    return any(src.stat().st_mtime > built for src in sources)


@functools.cache
def load_library(path: str | None = None) -> ctypes.CDLL:
    """Load (building ``firmware/build/host/libtinylstm.so`` with make when missing or older
    than its sources; a fresh clone has no build) and declare the ABI."""
    lib_path = Path(path or os.environ.get(LIB_ENV) or DEFAULT_LIB)
    with _build_lock:
        if lib_path == DEFAULT_LIB and _stale(lib_path):
            result = subprocess.run(
                ["make", "-C", str(REPO_ROOT / "firmware"), "build/host/libtinylstm.so"],
                capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                raise EngineError(f"building the host library failed: {result.stderr[-2000:]}")
    try:
        lib = ctypes.CDLL(str(lib_path))
    except OSError as exc:
        raise EngineError(f"cannot load {lib_path}: {exc}") from exc
    c = ctypes
    signatures = {
        "tl_api_version": (c.c_int, []),
        "tl_api_status_str": (c.c_char_p, [c.c_int]),
        "tl_api_engine_info": (c.c_int, [c.c_void_p, u32p, u32p, u32p, u32p]),
        "tl_api_engine_label": (
            c.c_int, [c.c_void_p, c.c_uint32, c.c_char_p, c.c_size_t, u32p]),
        "tl_api_classify": (c.c_int, [
            c.c_void_p, c.c_char_p, c.c_size_t, u32p, ctypes.POINTER(c.c_int32), c.c_uint32,
            ctypes.POINTER(c.c_float), ctypes.POINTER(c.c_uint16), c.c_uint32, u32p]),
        "tl_api_engine_size": (c.c_size_t, []),
        "tl_api_engine_init": (c.c_int, [c.c_void_p, c.c_char_p, c.c_size_t]),
        "tl_api_engine_tagger": (c.c_int, [c.c_void_p, u32p, u8p, c.c_uint32, u32p]),
        "tl_api_classify_tagged": (c.c_int, [
            c.c_void_p, c.c_char_p, c.c_size_t, u32p, ctypes.POINTER(c.c_int32), c.c_uint32,
            ctypes.POINTER(c.c_float), u32p, u8p, c.c_uint32, ctypes.POINTER(c.c_int32),
            c.c_uint32]),
        "tl_api_classify_batch": (c.c_int, [
            c.c_void_p, c.c_char_p, u32p, c.c_uint32, u32p, ctypes.POINTER(c.c_int32),
            c.c_uint32, ctypes.POINTER(c.c_float)]),
        "tl_api_kernels": (c.c_int, []),
        "tl_api_force_portable": (None, [c.c_int]),
        "tl_api_device_size": (c.c_size_t, []),
        "tl_api_device_flash_size": (c.c_uint32, []),
        "tl_api_device_init": (c.c_int, [c.c_void_p, c.c_void_p, c.c_uint32]),
        "tl_api_device_begin": (c.c_int, [c.c_void_p, c.c_uint32, c.c_uint32, c.c_char_p]),
        "tl_api_device_write_chunk": (
            c.c_int, [c.c_void_p, c.c_uint32, c.c_char_p, c.c_uint32, c.c_uint32]),
        "tl_api_device_finish": (c.c_int, [c.c_void_p]),
        "tl_api_device_boot": (c.c_int, [c.c_void_p]),
        "tl_api_device_state": (c.c_int, [c.c_void_p, u32p, u32p, u32p, u32p]),
        "tl_api_device_engine": (c.c_void_p, [c.c_void_p]),
    }  # fmt: skip
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    if lib.tl_api_version() != API_VERSION:
        raise EngineError(f"{lib_path} has ABI {lib.tl_api_version()}, expected {API_VERSION}")
    return lib


class CDevice(Device):
    """A device on the C slot manager, its flash in RAM (erased = 0xFF)."""

    def __init__(self, library: str | None = None) -> None:
        self._lib = load_library(library)
        flash_size = self._lib.tl_api_device_flash_size()
        self._flash = (ctypes.c_uint64 * (flash_size // 8))()  # 8-byte aligned
        ctypes.memset(self._flash, 0xFF, flash_size)
        self._ctx = (ctypes.c_uint64 * (self._lib.tl_api_device_size() // 8 + 1))()
        self._check(self._lib.tl_api_device_init(self._ctx, self._flash, flash_size), "init")
        self._labels: tuple[str, ...] = ()
        self._entity_types: tuple[str, ...] = ()  # of the booted model's tagging section
        self._lock = threading.Lock()  # one classification or flash operation at a time

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            name = STATUS_NAMES.get(status, f"status {status}")
            text = self._lib.tl_api_status_str(status).decode()
            raise EngineError(f"{what} failed: {name} ({text})", status=name)

    def begin(self, version: int, size: int, sha256: bytes) -> None:
        with self._lock:
            self._check(self._lib.tl_api_device_begin(self._ctx, version, size, sha256), "begin")

    def write_chunk(self, offset: int, data: bytes, crc32: int) -> None:
        with self._lock:
            status = self._lib.tl_api_device_write_chunk(self._ctx, offset, data, len(data), crc32)
            self._check(status, f"chunk at {offset}")

    def finish(self) -> None:
        with self._lock:
            self._check(self._lib.tl_api_device_finish(self._ctx), "finish")

    def boot(self) -> int:
        with self._lock:
            self._check(self._lib.tl_api_device_boot(self._ctx), "boot")
            engine = self._lib.tl_api_device_engine(self._ctx)
            info = [ctypes.c_uint32() for _ in range(4)]
            self._check(self._lib.tl_api_engine_info(engine, *map(ctypes.byref, info)), "info")
            version, _, _, num_labels = (v.value for v in info)
            labels = []
            buf = ctypes.create_string_buffer(256)
            length = ctypes.c_uint32()
            for k in range(num_labels):
                self._check(
                    self._lib.tl_api_engine_label(engine, k, buf, 256, ctypes.byref(length)),
                    "label",
                )
                labels.append(buf.raw[: length.value].decode("utf-8"))
            self._labels = tuple(labels)
            self._entity_types = self._read_entity_types(engine)
            self._engine = engine
            self._max_len = info[2].value
            return version

    def _read_entity_types(self, engine: int) -> tuple[str, ...]:
        """The entity type names of the booted model's tagging section (none without one)."""
        num_tags, size = ctypes.c_uint32(), ctypes.c_uint32()
        table = (ctypes.c_uint8 * 4096)()
        status = self._lib.tl_api_engine_tagger(
            engine, ctypes.byref(num_tags), table, 4096, ctypes.byref(size)
        )
        self._check(status, "tagger")
        raw, names, pos = bytes(table[: size.value]), [], 0
        while pos < len(raw):  # (u8 length, ASCII name) per type; checked by the C reader
            names.append(raw[pos + 1 : pos + 1 + raw[pos]].decode("ascii"))
            pos += 1 + raw[pos]
        return tuple(names)

    def state(self) -> SlotState:
        values = [ctypes.c_uint32() for _ in range(4)]
        with self._lock:
            self._check(
                self._lib.tl_api_device_state(self._ctx, *map(ctypes.byref, values)), "state"
            )
        return SlotState(*(v.value for v in values))

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def classify(self, text: str, k: int = 3) -> Prediction:
        raw = text.encode("utf-8")
        label = ctypes.c_uint32()
        conf = ctypes.c_float()
        n_ids = ctypes.c_uint32()
        tags = (ctypes.c_uint8 * max(self._max_len if self._entity_types else 0, 1))()
        with self._lock:
            engine = self._lib.tl_api_device_engine(self._ctx)
            if not engine:
                raise EngineError("no model booted", status="TL_ERR_NO_MODEL")
            logits = (ctypes.c_int32 * len(self._labels))()
            start = time.perf_counter_ns()
            if self._entity_types:
                status = self._lib.tl_api_classify_tagged(
                    engine, raw, len(raw), ctypes.byref(label), logits, len(self._labels),
                    ctypes.byref(conf), ctypes.byref(n_ids), tags, self._max_len, None, 0,
                )  # fmt: skip
            else:
                status = self._lib.tl_api_classify(
                    engine, raw, len(raw), ctypes.byref(label), logits, len(self._labels),
                    ctypes.byref(conf), None, 0, ctypes.byref(n_ids),
                )  # fmt: skip
            latency_us = (time.perf_counter_ns() - start) // 1000
        self._check(status, "classify")
        topk = topk_probs(self._labels, list(logits), k)
        assert topk[0][0] == self._labels[label.value], "C argmax and softmax order disagree"
        entities = None
        if self._entity_types:
            path = list(tags[: n_ids.value])
            entities = entities_from_tags(text, path, self._entity_types, self._max_len)
        return Prediction(topk[0][0], topk[0][1], topk, int(latency_us), entities)
