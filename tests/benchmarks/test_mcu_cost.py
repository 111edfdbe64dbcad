"""benchmarks/mcu_cost on the real images under QEMU: the DSP path's instructions per
multiply-accumulate for whole messages (the <= 1.0 goal), the kernel breakdown adding up, and
RAM and flash of the device image, and what the entity tagger adds to its RAM."""

from __future__ import annotations

import pytest

from benchmarks.mcu_cost import CLOCK_HZ, DATASHEET, run
from tests.firmware.conftest import require_tools

pytestmark = pytest.mark.firmware


@pytest.fixture(scope="module")
def report():
    require_tools("make", "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
    return run(build=True)


def test_dsp_path_stays_within_one_instruction_per_mac(report):
    dsp = report["paths"]["dsp"]
    assert [m["tokens"] for m in dsp["messages"]] == [16, 32, 64]
    for m in dsp["messages"]:
        assert m["instructions_per_mac"] <= 1.0, m
        assert m["ms_at_168mhz"] == round(m["instructions"] / CLOCK_HZ * 1e3, 2)
        joules = m["instructions"] / CLOCK_HZ * 3.3 * DATASHEET["supply_current_a"]
        assert m["energy_estimate"]["joules"] == pytest.approx(joules)
        # the kernels measured alone account for all but a small rest of the message
        assert 0 <= m["instructions_other"] < 0.01 * m["instructions"], m
    for name in ("recurrent_matvec", "input_matvec", "input_matvec_x2"):
        assert dsp["kernels"][name]["instructions_per_mac"] < 0.95, name
    portable = report["paths"]["portable"]
    assert all(m["instructions_per_mac"] > 2 for m in portable["messages"])  # the reference C


def test_device_image_memory_and_flash(report):
    mem = report["memory"]
    assert mem["engine_ram_bytes"] <= mem["engine_ram_goal_bytes"] == 16 * 1024
    assert 0 < mem["stack_bytes"]["classify_stack_bytes"] < mem["stack_reserved_bytes"]
    assert mem["engine_scratch_bytes"] <= mem["static_ram_map"]["bss_bytes"]
    flash = mem["flash"]
    assert flash["total_regions_bytes"] == flash["chip_bytes"] == 1024 * 1024
    assert flash["model_blob_bytes"] <= flash["slot_bytes"]
    regions = mem["flash_regions"]
    assert all(r.get("used", 0) <= r["bytes"] for r in regions.values())


def test_tagging_adds_the_emission_accumulators_and_stays_in_the_ram_goal(report):
    tag = report["memory"]["tagging"]
    shape = tag["measured_on"]
    assert tag["scratch_bytes"]["growth"] == shape["tokens"] * shape["num_tags"] * 4
    stack = tag["classify_stack_bytes"]
    assert 0 < stack["without"] <= stack["with_tags"] < report["memory"]["stack_reserved_bytes"]
    assert tag["device_model_engine_ram_with_tagging_bytes"] <= tag["engine_ram_goal_bytes"]
