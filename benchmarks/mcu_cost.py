"""What one classification costs on the STM32F405 (Cortex-M4F, 168 MHz): executed instructions
per message at 16, 32 and 64 tokens and per kernel, instructions per multiply-accumulate, the
implied time, an energy estimate, RAM (measured stack, static RAM from the map file) and flash.

Instruction counts are exact and deterministic: the benchmark image runs under
``qemu-system-arm -M netduinoplus2 -icount shift=0``, where the virtual clock advances 1 ns per
executed instruction and the modelled TIM2 (1 GHz, prescaler 0) counts it (DWT CYCCNT reads 0
under QEMU). Both kernel paths are measured: portable C and the DSP path (SMLAD/SXTB16 over the
blob's paired-row layout, ``docs/model-blob.md``). ``ms_at_168mhz`` assumes one instruction per
cycle, so it ignores flash wait states and multi-cycle instructions (LDM of n registers takes
n + 1 cycles): a lower bound, not a measurement of silicon.

Memory is measured on the device image (``m4/app_device.c``: boot through the OTA slot manager,
self-test, classify): the peak stack of each phase by stack painting under QEMU, static RAM
from its linker map, flash per region of its linker script.

The entity tagger's share (engine scratch and stack of a tagged classification) is measured on
the golden test image, which holds a tagging blob (``tagging_memory``).

Energy is an estimate, labeled as such: the time above times the STM32F405's typical Run-mode
supply current at 168 MHz from its datasheet (``DATASHEET``) times V_DD = 3.3 V.

    python -m benchmarks.mcu_cost [--out mcu_cost.json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
M4 = FIRMWARE / "build" / "m4"
CLOCK_HZ = 168_000_000
PATHS = ("portable", "dsp")
TOKENS = (16, 32, 64)
ENGINE_RAM_GOAL = 16 * 1024
FLASH_BYTES = 1024 * 1024
# STM32F405xx/STM32F407xx datasheet (DS8626, DocID022152), section 5.3.6 "Supply current
# characteristics", Run mode, code with data processing running from Flash memory, ART
# accelerator enabled (prefetch off), f_HCLK = 168 MHz, typical at T_A = 25 degC: 40 mA with all
# peripherals disabled (87 mA with all enabled); typical values at V_DD = 3.3 V.
DATASHEET: dict[str, Any] = {
    "source": "STM32F405xx/407xx datasheet DS8626, 5.3.6 Supply current characteristics: Run "
    "mode, code from Flash, ART accelerator on (prefetch off), 168 MHz, typical, 25 degC",
    "supply_current_a": 0.040,
    "supply_current_all_peripherals_a": 0.087,
    "supply_voltage_v": 3.3,
}
QEMU = [
    "qemu-system-arm",
    "-M",
    "netduinoplus2",
    "-nographic",
    "-semihosting-config",
    "enable=on,target=native",
]
LINE = re.compile(r"^(BENCH|MEM) (.*)$", re.MULTILINE)
# Flash regions of m4/stm32f405_device.ld: name -> (origin, length)
DEVICE_REGIONS = {
    "vectors": (0x08000000, 16 * 1024),
    "ota_metadata": (0x08004000, 32 * 1024),
    "code": (0x0800C000, 80 * 1024),
    "spare": (0x08020000, 128 * 1024),
    "slot_a": (0x08040000, 384 * 1024),
    "slot_b": (0x080A0000, 384 * 1024),
}


def parse_lines(output: str) -> list[dict[str, str | int]]:
    """``BENCH k=v ...`` / ``MEM k=v ...`` lines -> dicts (integers where the value is one)."""
    rows = []
    for match in LINE.finditer(output):
        row: dict[str, str | int] = {"line": match.group(1)}
        for pair in match.group(2).split():
            key, value = pair.split("=", 1)
            row[key] = int(value) if re.fullmatch(r"-?\d+", value) else value
        rows.append(row)
    return rows


def run_image(elf: Path, icount: bool) -> list[dict[str, str | int]]:
    clock = ["-icount", "shift=0"] if icount else []
    cmd = ["timeout", "600", *QEMU, *clock, "-kernel", str(elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=660)
    if proc.returncode != 0:
        raise SystemExit(f"{elf} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return parse_lines(proc.stdout + proc.stderr)


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


def energy(instructions: int) -> dict[str, float]:
    """Joules for ``instructions`` at one instruction per cycle and the datasheet's current."""
    seconds = instructions / CLOCK_HZ
    volts = DATASHEET["supply_voltage_v"]
    return {
        "joules": seconds * volts * float(DATASHEET["supply_current_a"]),
        "joules_all_peripherals": seconds
        * volts
        * float(DATASHEET["supply_current_all_peripherals_a"]),
    }


def kernel_table(rows: list[dict[str, str | int]], hidden: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["line"] == "BENCH" and r["kind"] == "kernel":
            insns, macs = int(r["insns"]), int(r["macs"])
            entry: dict[str, Any] = {"instructions": insns}
            if macs:
                entry["macs"] = macs
                entry["instructions_per_mac"] = round(insns / macs, 3)
            out[str(r["name"])] = entry
    out["preact"]["rows"] = 4 * hidden
    out["preact"]["instructions_per_row"] = round(out["preact"]["instructions"] / (4 * hidden), 2)
    out["cell"]["units"] = hidden
    out["cell"]["instructions_per_unit"] = round(out["cell"]["instructions"] / hidden, 2)
    return out


def breakdown(tokens: int, kernels: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Instructions of a ``tokens``-token message attributed to the kernels (both directions:
    2T steps of recurrent product, pre-activations and cell; T/2 two-token input products and
    embeddings per direction, one single-token product per direction for an odd T; with a hash
    embedding, T table lookups before both directions)."""
    k = {name: int(v["instructions"]) for name, v in kernels.items()}
    steps, pairs, odd = 2 * tokens, 2 * (tokens // 2), 2 * (tokens % 2)
    return {
        "recurrent_matvec": steps * k["recurrent_matvec"],
        "input_matvec": pairs * k["input_matvec_x2"] + odd * k["input_matvec"],
        "embedding": pairs * k["embedding_x2"] + tokens * k.get("hash_embedding", 0),
        "preact": steps * k["preact"],
        "cell": steps * k["cell"],
        "head_and_confidence": k["head"] + k["argmax_confidence"],
    }


def measure_path(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = run_image(M4 / path / "bench.elf", icount=True)
    model = next(r for r in rows if r.get("kind") == "model")
    kernels = kernel_table(rows, int(model["hidden"]))
    messages = []
    for r in rows:
        if r.get("kind") != "message" or r["tokens"] == 0:
            continue
        insns, macs, tokens = int(r["insns"]), int(r["macs"]), int(r["tokens"])
        parts = breakdown(tokens, kernels)
        parts["tokenizer"] = int(r["tokenizer_insns"])
        messages.append(
            {
                "tokens": tokens,
                "instructions": insns,
                "macs": macs,
                "instructions_per_mac": round(insns / macs, 4),
                "ms_at_168mhz": round(insns / CLOCK_HZ * 1e3, 2),
                "energy_estimate": energy(insns),
                "instructions_by_kernel": parts,
                "instructions_other": insns - sum(parts.values()),
            }
        )
    empty = next(r for r in rows if r.get("kind") == "message" and r["tokens"] == 0)
    result = {
        "messages": messages,
        "empty_message_instructions": empty["insns"],
        "kernels": kernels,
    }
    return {k: v for k, v in model.items() if k not in ("line", "kind", "path")}, result


def map_static_ram(map_path: Path) -> dict[str, Any]:
    """.data and .bss of the device image from its linker map, with their largest inputs."""
    text = map_path.read_text()
    text = text[text.index("Linker script and memory map") :]  # not the discarded sections
    out: dict[str, Any] = {}
    for section in (".data", ".bss"):
        match = re.search(rf"^{re.escape(section)}\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", text, re.M)
        out[f"{section[1:]}_bytes"] = int(match.group(2), 16) if match else 0
    contributors: dict[str, int] = {}
    for match in re.finditer(r"^ \.bss\.(\S+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)", text, re.M):
        name = f"{match.group(1)} ({Path(match.group(3)).name})"
        contributors[name] = int(match.group(2), 16)
    top = sorted(contributors.items(), key=lambda kv: -kv[1])[:6]
    out["largest_bss"] = dict(top)
    out["static_bytes"] = out["data_bytes"] + out["bss_bytes"]
    return out


def device_memory() -> dict[str, Any]:
    """Peak stack by painting, static RAM from the map, flash per region: the device image."""
    elf = M4 / "dsp" / "device.elf"
    mem = next(r for r in run_image(elf, icount=False) if r["line"] == "MEM")
    sizes = section_sizes(elf)
    static = map_static_ram(Path(f"{elf}.map"))
    stack_peak = max(int(mem[k]) for k in mem if str(k).endswith("_stack_bytes"))
    engine = int(mem["scratch_needed_bytes"]) + int(mem["classify_stack_bytes"])
    firmware = sizes[".isr_vector"] + sizes[".text"] + sizes.get(".ARM.exidx", 0)
    firmware += sizes.get(".data", 0)
    blob = sizes.get(".slot_a", 0)
    flash = {
        name: {"origin": hex(origin), "bytes": length}
        for name, (origin, length) in DEVICE_REGIONS.items()
    }
    flash["vectors"]["used"] = sizes[".isr_vector"]
    flash["ota_metadata"]["used"] = sizes.get(".ota_meta", 0)
    flash["code"]["used"] = firmware - sizes[".isr_vector"]
    flash["slot_a"]["used"] = blob
    flash["slot_b"]["used"] = 0
    return {
        "stack_bytes": {k: int(v) for k, v in mem.items() if str(k).endswith("_stack_bytes")},
        "stack_reserved_bytes": int(mem["stack_reserved_bytes"]),
        "stack_peak_bytes": stack_peak,
        "engine_scratch_bytes": int(mem["scratch_needed_bytes"]),
        "engine_ram_bytes": engine,
        "engine_ram_goal_bytes": ENGINE_RAM_GOAL,
        "engine_ram_with_selftest_bytes": int(mem["scratch_needed_bytes"])
        + int(mem["selftest_stack_bytes"]),
        "static_ram_map": static,
        "flash_regions": flash,
        "flash": {
            "firmware_bytes": firmware,
            "model_blob_bytes": blob,
            "slot_bytes": DEVICE_REGIONS["slot_a"][1],
            "two_slots_bytes": DEVICE_REGIONS["slot_a"][1] + DEVICE_REGIONS["slot_b"][1],
            "total_regions_bytes": sum(length for _, length in DEVICE_REGIONS.values()),
            "chip_bytes": FLASH_BYTES,
        },
    }


def tagging_memory(device: dict[str, Any]) -> dict[str, Any]:
    """What the entity tagger adds, measured by the golden test image (``m4/app_golden.c``) on
    the tagger pack's spec v1 blob: engine scratch and peak stack of a max_len classification
    with and without tags. The scratch growth is the L x K int32 emission accumulators (the
    Viterbi scratch sits in the LSTM's kernel scratch), so the device image's model with a
    tagging section of the same L and K needs its scratch plus that growth, plus the tagged
    classification's stack."""
    mem = next(
        r for r in run_image(M4 / "dsp" / "app.elf", icount=False)
        if r["line"] == "MEM" and "tag_scratch_bytes" in r
    )  # fmt: skip
    growth = int(mem["tag_scratch_bytes"]) - int(mem["plain_scratch_bytes"])
    engine = device["engine_scratch_bytes"] + growth + int(mem["tag_classify_stack_bytes"])
    return {
        "measured_on": {"tokens": mem["tag_tokens"], "num_tags": mem["tag_num_tags"],
                        "hidden": mem["tag_hidden"]},
        "scratch_bytes": {"with_tags": mem["tag_scratch_bytes"],
                          "without": mem["plain_scratch_bytes"], "growth": growth},
        "classify_stack_bytes": {"with_tags": mem["tag_classify_stack_bytes"],
                                 "without": mem["plain_classify_stack_bytes"]},
        "device_model_engine_ram_with_tagging_bytes": engine,
        "engine_ram_goal_bytes": ENGINE_RAM_GOAL,
    }  # fmt: skip


def run(build: bool = True) -> dict[str, Any]:
    """Build (unless told not to) and measure; the dict ``main`` prints as JSON."""
    if build:
        subprocess.run(
            ["make", "-C", str(FIRMWARE), "-s", "m4"], check=True, stdout=subprocess.DEVNULL
        )
    report: dict[str, Any] = {
        "benchmark": "mcu_cost",
        "target": "STM32F405 Cortex-M4F (qemu-system-arm netduinoplus2, -icount shift=0)",
        "clock_hz": CLOCK_HZ,
        "time_method": "instructions / 168 MHz (one instruction per cycle: a lower bound)",
        "energy_method": "estimate: time x datasheet typical Run-mode current x V_DD",
        "datasheet": DATASHEET,
        "paths": {},
    }
    for path in PATHS:
        model, result = measure_path(path)
        report["model"] = model
        report["paths"][path] = result
    report["memory"] = device_memory()
    report["memory"]["tagging"] = tagging_memory(report["memory"])
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="use the images already built")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    report = run(build=not args.no_build)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
