"""Short libFuzzer runs (20 s each) of the tokenizer and the blob reader under ASan and UBSan;
`make -C firmware fuzz` runs the same targets longer (FUZZ_SECONDS, default 300)."""

from __future__ import annotations

import pytest

from tests.firmware.conftest import require_tools

pytestmark = pytest.mark.firmware

FUZZ_SECONDS = 20


def test_fuzz_tokenizer_and_blob_reader(make_firmware):
    require_tools("clang")
    proc = make_firmware("fuzz", f"FUZZ_SECONDS={FUZZ_SECONDS}", timeout=600)
    log = proc.stdout + proc.stderr
    assert log.count("DONE") == 2, log[-4000:]
    assert "ERROR: AddressSanitizer" not in log and "runtime error" not in log
