"""What one classification costs on the STM32F405 (Cortex-M4F, 168 MHz): executed instructions
per message at 16, 32 and 64 tokens, instructions per multiply-accumulate, flash and RAM.

Instruction counts are exact and deterministic: the benchmark image runs under
``qemu-system-arm -M netduinoplus2 -icount shift=0``, where the virtual clock advances 1 ns per
executed instruction and the modelled TIM2 (1 GHz, prescaler 0) counts it (DWT CYCCNT reads 0
under QEMU). Both kernel paths are measured: portable C and the DSP path (SMLAD/SXTB16 via ACLE
and a hand-scheduled inner loop). "implied_ms_at_168mhz" assumes one instruction per cycle, so
it ignores flash wait states and multi-cycle loads; it is a floor, not a measurement of silicon.
Flash and RAM come from ``arm-none-eabi-size`` of the same image.

    python -m benchmarks.mcu_cost
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
M4 = FIRMWARE / "build" / "m4"
CLOCK_HZ = 168_000_000
PATHS = ("portable", "dsp")
QEMU = [
    "qemu-system-arm",
    "-M",
    "netduinoplus2",
    "-nographic",
    "-semihosting-config",
    "enable=on,target=native",
    "-icount",
    "shift=0",
]
LINE = re.compile(r"^BENCH (.*)$", re.MULTILINE)


def parse_bench(output: str) -> list[dict[str, str | int]]:
    """``BENCH k=v ...`` lines -> dicts (integers where the value is one)."""
    rows = []
    for match in LINE.finditer(output):
        row: dict[str, str | int] = {}
        for pair in match.group(1).split():
            key, value = pair.split("=", 1)
            row[key] = int(value) if re.fullmatch(r"-?\d+", value) else value
        rows.append(row)
    return rows


def run_image(elf: Path) -> list[dict[str, str | int]]:
    proc = subprocess.run(
        ["timeout", "600", *QEMU, "-kernel", str(elf)], capture_output=True, text=True, timeout=660
    )
    if proc.returncode != 0:
        raise SystemExit(f"{elf} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return parse_bench(proc.stdout + proc.stderr)


def section_sizes(elf: Path) -> dict[str, int]:
    out = subprocess.run(
        ["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    sizes = {}
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def measure(path: str) -> tuple[dict, dict]:
    rows = run_image(M4 / path / "bench.elf")
    model = next(r for r in rows if r["kind"] == "model")
    messages = []
    for r in rows:
        if r["kind"] != "message" or r["tokens"] == 0:
            continue
        insns, macs = int(r["insns"]), int(r["macs"])
        messages.append(
            {
                "tokens": r["tokens"],
                "instructions": insns,
                "tokenizer_instructions": r["tokenizer_insns"],
                "macs": macs,
                "instructions_per_mac": round(insns / macs, 3),
                "implied_ms_at_168mhz": round(insns / CLOCK_HZ * 1e3, 2),
            }
        )
    empty = next(r for r in rows if r["kind"] == "message" and r["tokens"] == 0)
    matvec = next(r for r in rows if r["kind"] == "matvec")
    pair = next(r for r in rows if r["kind"] == "matvec_x2")
    result = {
        "messages": messages,
        "empty_message_instructions": empty["insns"],
        "matvec_kernel_instructions_per_mac": round(int(matvec["insns"]) / int(matvec["macs"]), 3),
        "matvec_two_token_kernel_instructions_per_mac": round(
            int(pair["insns"]) / int(pair["macs"]), 3
        ),
    }
    return model, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="use the images already built")
    args = parser.parse_args(argv)
    if not args.no_build:
        subprocess.run(
            ["make", "-C", str(FIRMWARE), "-s", "m4"], check=True, stdout=subprocess.DEVNULL
        )
    report: dict = {
        "benchmark": "mcu_cost",
        "target": "STM32F405 Cortex-M4F (qemu-system-arm netduinoplus2, -icount shift=0)",
        "clock_hz": CLOCK_HZ,
        "paths": {},
    }
    for path in PATHS:
        model, result = measure(path)
        report["model"] = {k: v for k, v in model.items() if k not in ("kind", "path")}
        sizes = section_sizes(M4 / path / "bench.elf")
        blob = int(model["blob_bytes"])
        image_flash = sizes[".isr_vector"] + sizes[".text"] + sizes.get(".data", 0)
        result["flash_bytes"] = {
            "firmware": image_flash - blob,
            "model_blob": blob,
            "image_total": image_flash,
        }
        result["ram_bytes"] = {
            "static_data_bss": sizes.get(".data", 0) + sizes.get(".bss", 0),
            "stack_reserved": sizes.get("._stack", 0),
            "image_total": sizes.get(".data", 0) + sizes.get(".bss", 0) + sizes.get("._stack", 0),
            "engine_scratch": model["scratch_bytes"],
        }
        report["paths"][path] = result
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
