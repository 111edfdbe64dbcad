"""The C engine (ctypes) against the numpy-reference double; slot manager refusals."""

from __future__ import annotations

import hashlib
import zlib

import pytest

from edge_agent.clib import CDevice
from edge_agent.engine import NO_SLOT
from edge_agent.errors import EngineError
from edge_agent.memory import MemoryDevice
from models.data.synth import SynthConfig, synth_examples

from .conftest import blob_version, golden_blob


@pytest.fixture(params=["c", "memory"])
def device(request):
    device = CDevice() if request.param == "c" else MemoryDevice()
    device.provision(golden_blob(), 1)
    return device


def test_c_engine_matches_the_numpy_reference_on_synthetic_messages():
    c, ref = CDevice(), MemoryDevice()
    assert c.provision(golden_blob(), 1) == ref.provision(golden_blob(), 1) == 1
    assert c.labels == ref.labels
    texts = [e.text for e in synth_examples(SynthConfig(train=20, valid=40, test=0), 1, "valid")]
    for text in [*texts, "", "x" * 3000, "\ud7ff混合 text 123"]:
        got, want = c.classify(text, k=4), ref.classify(text, k=4)
        assert got.topk == want.topk, text
        assert got.label == got.topk[0][0] and got.confidence == got.topk[0][1]
        assert sum(p for _, p in got.topk) <= 1.0


def test_update_is_staged_self_tested_and_confirmed(device):
    assert device.provision(blob_version(2), 2) == 2
    state = device.state()
    assert (state.running_version, state.floor_version, state.trial) == (2, 2, NO_SLOT)


@pytest.mark.parametrize("version", [1, 0])
def test_older_or_same_version_is_refused(device, version):
    blob = golden_blob()
    with pytest.raises(EngineError) as info:
        device.begin(version, len(blob), hashlib.sha256(blob).digest())
    assert info.value.status in ("TL_ERR_ROLLBACK", "TL_ERR_ARG")
    assert device.state().running_version == 1


def test_corrupt_chunk_and_wrong_digest_are_refused_and_the_old_model_stays(device):
    blob = blob_version(3)
    device.begin(3, len(blob), hashlib.sha256(blob).digest())
    with pytest.raises(EngineError, match="CHUNK_CRC"):
        device.write_chunk(0, blob[:100], zlib.crc32(blob[:100]) ^ 1)
    with pytest.raises(EngineError, match="CHUNK_ORDER"):
        device.write_chunk(100, blob[100:200], zlib.crc32(blob[100:200]))
    tampered = bytearray(blob)
    tampered[-10] ^= 0xFF
    device.write_chunk(0, bytes(tampered), zlib.crc32(bytes(tampered)))
    with pytest.raises(EngineError, match="DIGEST"):
        device.finish()
    assert device.boot() == 1
    assert device.classify("上海仓库存预警通知").label


def test_c_engine_tags_entities_as_the_numpy_reference():
    """A blob with a tagging section: the C engine's entities (its tag path over the tokens'
    character spans) are the reference's; without the section there are none (None)."""
    from pathlib import Path

    blob = (Path(__file__).resolve().parents[1] / "golden/tagger/model_v1.blob").read_bytes()
    c, ref = CDevice(), MemoryDevice()
    assert c.provision(blob, 1) == ref.provision(blob, 1) == 1
    texts = [e.text for e in synth_examples(SynthConfig(train=20, valid=40, test=0), 2, "valid")]
    found = 0
    for text in [*texts, "", "x" * 3000, "\ud7ff混合 SF1234567890 123"]:
        got, want = c.classify(text), ref.classify(text)
        assert got.topk == want.topk and got.entities == want.entities, text
        assert got.entities is not None
        for kind, start, end in got.entities:
            assert kind in ("ID", "CARRIER", "PLACE", "DATE", "QTY") and 0 <= start < end
            assert end <= len(text)
        found += len(got.entities)
    assert found > 0
    bare = CDevice()
    bare.provision(golden_blob(), 1)
    assert bare.classify(texts[0]).entities is None
