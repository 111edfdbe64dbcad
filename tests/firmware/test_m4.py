"""Cortex-M4 build (STM32F405, hard-float) run under QEMU's netduinoplus2 with semihosting:
every golden vector on the portable kernels and on the DSP/SIMD kernels, and a fault that must
end the run with the HardFault status."""

from __future__ import annotations

import subprocess

import pytest

from tests.firmware.conftest import BUILD, GOLDEN, require_tools

pytestmark = pytest.mark.firmware

QEMU = ["qemu-system-arm", "-M", "netduinoplus2", "-nographic"]
SEMIHOSTING = ["-semihosting-config", "enable=on,target=native"]
HARDFAULT_EXIT = 101


@pytest.fixture(scope="module")
def m4_images(make_firmware):
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
    make_firmware("m4")
    return BUILD / "m4"


def golden_count(path):
    """Cases in a golden JSONL file (every line after the header)."""
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip())


def run_qemu(elf, timeout=900):
    """Run an image; SYS_WRITE0 output arrives on stderr with QEMU 7.2, so both are joined."""
    proc = subprocess.run(
        ["timeout", str(timeout), *QEMU, *SEMIHOSTING, "-kernel", str(elf)],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("variant", ["portable", "dsp"])
@pytest.mark.parametrize(
    ("image", "pack"),
    [("app.elf", "intlstm"), ("app_v2.elf", "intlstm_v2"), ("app_v2_last.elf", "intlstm_v2_last")],
)
def test_golden_vectors_under_qemu(m4_images, variant, image, pack):
    """Spec v1 (one row per token, last pooling), v2 (hash embedding, mean+max pooling) and the
    default student's (hash embedding, last pooling) packs, each in its own image, on both
    kernel paths."""
    rc, out = run_qemu(m4_images / variant / image)
    assert rc == 0, out
    n_tok = golden_count(GOLDEN / "tokenizer.jsonl")
    n_lstm = golden_count(GOLDEN / pack / "cases.jsonl")
    assert f"tokenizer golden: {n_tok} cases, mismatches 0" in out, out
    assert f"intlstm golden: {n_lstm} cases, mismatches 0" in out, out
    n_vit = golden_count(GOLDEN / "tagger" / "viterbi.jsonl")
    assert f"viterbi golden: {n_vit} cases, mismatches 0" in out, out
    n_tag = golden_count(GOLDEN / "tagger" / "cases.jsonl")
    assert f"tagger golden: {n_tag} cases, mismatches 0" in out, out
    assert "RESULT: PASS" in out


def test_fault_ends_the_run_with_a_status(m4_images):
    rc, out = run_qemu(m4_images / "portable" / "fault.elf", timeout=60)
    assert rc == HARDFAULT_EXIT, out
    assert "HardFault" in out


def test_image_fits_the_real_chip(m4_images):
    out = subprocess.run(
        ["arm-none-eabi-size", "-A", str(m4_images / "dsp" / "app.elf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sizes = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()[2:] if line.split()}
    ram = sizes.get(".data", 0) + sizes.get(".bss", 0) + sizes.get("._stack", 0)
    assert ram <= 128 * 1024
    assert sizes[".isr_vector"] + sizes[".text"] + sizes.get(".data", 0) <= 1024 * 1024


def test_device_image_boots_from_its_linker_placed_slot(m4_images):
    """Factory image: metadata record + blob preloaded in the linker's OTA regions; the device
    boots through the slot manager and the real flash driver's memory-mapped reads."""
    rc, out = run_qemu(m4_images / "dsp" / "device.elf", timeout=120)
    assert rc == 0, out
    assert "booted slot 0 model v" in out
    assert "self-test: ok" in out
    assert "classified: label" in out
