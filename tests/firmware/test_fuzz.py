"""Short libFuzzer runs (10 s each) of the tokenizer, the blob reader and the OTA chunk
sequence under ASan and UBSan; `make -C firmware fuzz` runs the same targets longer
(FUZZ_SECONDS, default 300; `python -m benchmarks.fuzz_boundaries` 600)."""

from __future__ import annotations

import pytest

from tests.firmware.conftest import require_tools

pytestmark = pytest.mark.firmware

FUZZ_SECONDS = 10


def test_fuzz_tokenizer_blob_reader_and_ota_chunks(make_firmware):
    require_tools("clang")
    proc = make_firmware("fuzz", f"FUZZ_SECONDS={FUZZ_SECONDS}", timeout=600)
    log = proc.stdout + proc.stderr
    assert log.count("DONE") == 3, log[-4000:]
    assert "ERROR: AddressSanitizer" not in log and "runtime error" not in log
