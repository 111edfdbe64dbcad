"""Factories for the firmware tests: build targets with the firmware Makefile, run programs,
load the host library with ctypes and make small random integer models."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.blob import write_blob
from models.intlstm import DirectionTensors, IntegerStudent, encode_multiplier
from models.inttagger import IntegerTagger
from tests.firmware.tinylstm_ctypes import TinyLSTMLib

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
BUILD = FIRMWARE / "build"
GOLDEN = ROOT / "tests" / "golden"

# Debian package that provides each tool `make test` needs for the firmware.
TOOLS = {
    "gcc": "gcc",
    "make": "make",
    "clang": "clang",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
}


def require_tools(*tools: str) -> None:
    """Fail (never skip) with the Debian package to install when a tool is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pkgs = " ".join(sorted({TOOLS.get(t, t) for t in missing}))
        pytest.fail(
            f"missing {', '.join(missing)}: install Debian packages {pkgs} (make test does)"
        )


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command, returning its output; a failure shows stdout and stderr."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


@pytest.fixture(scope="session")
def make_firmware() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Factory: ``make_firmware("host")`` runs ``make -C firmware host``."""
    require_tools("make", "gcc")

    def build(*targets: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run(["make", "-C", str(FIRMWARE), "-j2", *targets], timeout=timeout)

    return build


@pytest.fixture(scope="session")
def host_lib(make_firmware: Callable[..., object]) -> TinyLSTMLib:
    make_firmware("host")
    return TinyLSTMLib(BUILD / "host" / "libtinylstm.so")


def make_random_model(
    vocab: int = 64,
    embed: int = 7,
    hidden: int = 5,
    labels: int = 3,
    max_len: int = 16,
    seed: int = 0,
    hashes: int = 1,
    buckets: int = 0,
    pooling: int = 0,
) -> IntegerStudent:
    """A random integer student of any shape (weights, biases and scales drawn so gates span
    their range); ``hashes``/``buckets`` > (1, 0) give it a hash embedding (spec v2), pooling 1
    is mean+max."""
    rng = np.random.default_rng(seed)

    def mult(rows: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        return encode_multiplier(rng.uniform(lo, hi, size=rows))

    def direction() -> DirectionTensors:
        mx, nx = mult(4 * hidden, 0.5, 40.0)
        mh, nh = mult(4 * hidden, 0.5, 80.0)
        return DirectionTensors(
            wx=rng.integers(-127, 128, (4 * hidden, embed), dtype=np.int8),
            wh=rng.integers(-127, 128, (4 * hidden, hidden), dtype=np.int8),
            b=rng.integers(-3000, 3000, 4 * hidden).astype(np.int32),
            mx=mx,
            nx=nx,
            mh=mh,
            nh=nh,
        )

    hm, hn = mult(labels, 0.01, 4.0)
    em, en = mult(1, 0.05, 0.5)
    v2 = (hashes, buckets) != (1, 0)
    extra: dict[str, Any] = {"pooling": pooling, "hashes": hashes}
    if v2:
        extra |= {"emb_m": int(em[0]), "emb_n": int(en[0])}
    if buckets:
        extra["importance"] = rng.integers(-127, 128, (buckets, hashes), dtype=np.int8)
    return IntegerStudent(
        emb=rng.integers(-127, 128, (vocab, embed), dtype=np.int8),
        fwd=direction(),
        bwd=direction(),
        head_w=rng.integers(-127, 128, (labels, (4 if pooling else 2) * hidden), dtype=np.int8),
        head_b=rng.integers(-5000, 5000, labels).astype(np.int32),
        head_m=hm,
        head_n=hn,
        labels=tuple(f"label-{k}" for k in range(labels)),
        max_len=max_len,
        input_scale=0.01,
        **extra,
    )


def make_random_tagger(hidden: int, seed: int = 0, types: int = 5) -> IntegerTagger:
    """A random integer tagger over a BiLSTM of width ``hidden`` (shifts and scores drawn so
    emissions and transitions are of the same order: the decoded paths vary)."""
    rng = np.random.default_rng(seed)
    k = 1 + 2 * types
    return IntegerTagger(
        w=rng.integers(-127, 128, (k, 2 * hidden)).astype(np.int8),
        b=rng.integers(-(2**16), 2**16, k).astype(np.int32),
        m=rng.integers(2**30, 2**31, k).astype(np.int32),
        n=rng.integers(14, 24, k).astype(np.int32),
        transitions=rng.integers(-(2**13), 2**13, (k, k)).astype(np.int32),
        start=rng.integers(-(2**13), 2**13, k).astype(np.int32),
        end=rng.integers(-(2**13), 2**13, k).astype(np.int32),
        entity_types=tuple(f"T{i}" for i in range(types)),
    )


def tiny_blob(v2: bool = False, tagged: bool = False) -> bytes:
    """A small valid blob (V=16, E=3, H=2, C=3, with STST) for mutation tests; ``v2``: with the
    hash embedding (K=2, P=3) and mean+max pooling; ``tagged``: with a tagging section of one
    entity type."""
    extra = {"hashes": 2, "buckets": 3, "pooling": 1} if v2 else {}
    model = make_random_model(vocab=16, embed=3, hidden=2, labels=3, max_len=6, **extra)
    tagger = make_random_tagger(2, types=1) if tagged else None
    return write_blob(model, model_version=1, tagger=tagger)


@pytest.fixture
def random_model() -> Callable[..., IntegerStudent]:
    """Factory: ``random_model(vocab=..., embed=..., hidden=..., labels=..., seed=...)``."""
    return make_random_model
