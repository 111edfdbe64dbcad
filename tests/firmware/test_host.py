"""Host build of the firmware: C unit tests, bit-exact golden vectors (C programs and through
ctypes), the C engine against the numpy reference on random models of odd shapes, and the
slot manager through the library ABI."""

from __future__ import annotations

import ctypes
import json
import platform
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.blob import BlobError, read_blob, write_blob
from models.intlstm import integer_logits
from models.inttagger import integer_emissions, integer_tags
from models.tokenizer import Tokenizer, v1_ids
from tests.firmware.conftest import BUILD, FIRMWARE, GOLDEN, run, tiny_blob
from tests.firmware.conftest import make_random_tagger as random_tagger
from tests.firmware.tinylstm_ctypes import NONE, FirmwareError

pytestmark = pytest.mark.firmware


def golden_cases(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


@pytest.mark.parametrize(
    "program",
    [
        ["test_kernels"],
        ["test_golden_tokenizer", "build/golden/tokenizer.bin"],
        ["test_golden_intlstm", "../tests/golden/intlstm/model.blob", "build/golden/intlstm.bin"],
        [
            "test_golden_intlstm",
            "../tests/golden/intlstm/model.blob",
            "build/golden/intlstm.bin",
            "--portable",
        ],
        [
            "test_golden_intlstm_v2",
            "../tests/golden/intlstm_v2/model.blob",
            "build/golden/v2/intlstm.bin",
        ],
        [
            "test_golden_intlstm_v2",
            "../tests/golden/intlstm_v2/model.blob",
            "build/golden/v2/intlstm.bin",
            "--portable",
        ],
        [
            "test_golden_intlstm_v2_last",
            "../tests/golden/intlstm_v2_last/model.blob",
            "build/golden/v2_last/intlstm.bin",
        ],
        [
            "test_golden_intlstm_v2_last",
            "../tests/golden/intlstm_v2_last/model.blob",
            "build/golden/v2_last/intlstm.bin",
            "--portable",
        ],
        ["test_crf", "build/golden/viterbi.bin", "build/golden/tagger.bin"],
        ["test_blob", "../tests/golden/intlstm/model.blob"],
        ["test_blob", "../tests/golden/intlstm_v2/model.blob"],
        ["test_ota", "../tests/golden/intlstm/model.blob"],
        ["test_ota", "../tests/golden/intlstm_v2/model.blob"],
        ["test_blob", "../tests/golden/intlstm_v2_last/model.blob"],
        ["test_ota", "../tests/golden/intlstm_v2_last/model.blob"],
    ],
)
def test_c_program(make_firmware, program):
    make_firmware("host", "golden")
    exe, *args = program
    paths = [a if a.startswith("--") else str(FIRMWARE / a) for a in args]
    proc = run([str(BUILD / "host" / exe), *paths])
    assert "0 mismatches" in proc.stdout or "0 failures" in proc.stdout, proc.stdout
    if exe == "test_crf":
        assert re.search(r"tagger golden: [1-9]\d* cases, 0 mismatches", proc.stdout), proc.stdout


def test_tokenizer_golden_through_ctypes(host_lib):
    _, cases = golden_cases(GOLDEN / "tokenizer.jsonl")
    bad = [
        i
        for i, c in enumerate(cases)
        if host_lib.tokenize(bytes.fromhex(c["hex"]), c["vocab_size"], c["max_len"]) != c["ids"]
    ]
    assert not bad, f"mismatching cases: {bad[:20]}"


def cpu_has_avx2() -> bool:
    try:
        return " avx2 " in Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        return False


@pytest.fixture(params=["simd", "portable"])
def kernels(request, host_lib):
    """Every engine test below runs on the portable kernels and on the CPU's SIMD kernels
    (AVX2 on x86-64 when cpuid has it): both must give the reference's results."""
    host_lib.lib.tl_api_force_portable(int(request.param == "portable"))
    in_use = host_lib.lib.tl_api_kernels()
    if request.param == "portable":
        assert in_use == 0
    elif platform.machine() == "x86_64" and cpu_has_avx2():
        assert in_use == 1, "this CPU has AVX2: the SIMD path must be the one tested"
    yield request.param
    host_lib.lib.tl_api_force_portable(0)


@pytest.mark.parametrize("pack", ["intlstm", "intlstm_v2", "intlstm_v2_last"])
def test_intlstm_golden_through_ctypes(host_lib, kernels, pack):
    header, cases = golden_cases(GOLDEN / pack / "cases.jsonl")
    engine = host_lib.engine((GOLDEN / pack / "model.blob").read_bytes())
    assert [engine.label(k) for k in range(engine.num_labels)] == header["labels"]
    assert engine.selftest() == 0
    bad = []
    for i, c in enumerate(cases):
        r = engine.classify(bytes.fromhex(c["hex"]))
        if (r.ids, r.logits, r.label) != (c["ids"], c["logits"], c["label"]):
            bad.append(i)
        assert 0.0 < r.confidence <= 1.0
    assert not bad, f"mismatching cases: {bad[:20]}"


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(st.binary(max_size=80), st.text(max_size=40).map(str.encode)),
    vocab=st.integers(16, 65535),
    max_len=st.integers(1, 24),
)
def test_tokenizer_matches_python_on_any_bytes(host_lib, text, vocab, max_len):
    assert host_lib.tokenize(text, vocab, max_len) == v1_ids(Tokenizer(max_len).encode(text), vocab)


@pytest.mark.parametrize(
    "shape",
    [
        dict(vocab=64, embed=7, hidden=5, labels=3),
        dict(vocab=16, embed=1, hidden=1, labels=2),
        dict(vocab=300, embed=33, hidden=17, labels=9, max_len=40),
        dict(vocab=100, embed=16, hidden=24, labels=5, max_len=30),  # whole 8-column blocks
        dict(vocab=64, embed=256, hidden=256, labels=4, max_len=9),  # the widest rows
        dict(vocab=64, embed=7, hidden=5, labels=3, pooling=1),  # mean+max pooling
        dict(vocab=300, embed=33, hidden=17, labels=9, hashes=2, buckets=50),  # hash embedding
        dict(vocab=100, embed=16, hidden=24, labels=5, hashes=4, buckets=1, pooling=1),
        dict(vocab=64, embed=9, hidden=8, labels=3, hashes=3, max_len=20),  # no weights: sum
        dict(vocab=64, embed=12, hidden=6, labels=2, hashes=1, buckets=7, pooling=1),
    ],
)
def test_engine_matches_numpy_reference_on_random_models(host_lib, random_model, shape, kernels):
    model = random_model(**shape, seed=sum(shape.values()))
    engine = host_lib.engine(write_blob(model, model_version=3))
    assert engine.selftest() == 0
    tok = model.tokenizer()
    rng = np.random.default_rng(7)
    texts = [b""] + [
        bytes(rng.integers(0x20, 0x7F, rng.integers(1, 120)).tolist()) for _ in range(60)
    ]
    hashes = [tok.encode(t) for t in texts]
    want = integer_logits(model, hashes)
    for text, seq, row in zip(texts, hashes, want, strict=True):
        r = engine.classify(text)
        assert r.ids == v1_ids(seq, model.vocab_size)
        assert r.logits == row.tolist(), text


def test_a_blob_with_a_tagging_section_classifies_as_without(host_lib, random_model):
    """The tagging section changes no classification (docs/model-blob.md): same self-test, same
    logits as the blob without it, with and without tagging."""
    model = random_model(vocab=64, embed=5, hidden=6, labels=3, seed=4)
    tagged = host_lib.engine(write_blob(model, model_version=2, tagger=random_tagger(6, seed=5)))
    bare = host_lib.engine(write_blob(model, model_version=2))
    assert tagged.selftest() == 0
    assert tagged.tagger() == (11, b"".join(b"\x02T%d" % i for i in range(5)))
    assert bare.tagger() == (0, b"")
    for text in (b"", b"SF1234567890 delayed at Shanghai", "顺丰 上海 延误".encode()):
        assert tagged.classify(text) == bare.classify(text)
        r = tagged.tag(text)
        assert (r.label, r.logits) == (bare.classify(text).label, bare.classify(text).logits)
    with pytest.raises(FirmwareError) as err:
        bare.tag(b"no tagging section")
    assert err.value.status == -1  # TL_ERR_ARG


@pytest.mark.parametrize(
    "shape",
    [
        dict(vocab=64, embed=7, hidden=5, labels=3),
        dict(vocab=300, embed=16, hidden=16, labels=4, max_len=40),
        dict(vocab=64, embed=12, hidden=6, labels=2, hashes=2, buckets=7, pooling=1),
    ],
)
def test_tagging_matches_numpy_reference_on_random_models(host_lib, random_model, shape, kernels):
    """tl_engine_classify with tags: every emission and tag of the integer reference
    (models/inttagger.py), and the logits of a plain classification."""
    model = random_model(**shape, seed=3)
    tagger = random_tagger(model.hidden, seed=4)
    engine = host_lib.engine(write_blob(model, model_version=1, tagger=tagger))
    tok = model.tokenizer()
    rng = np.random.default_rng(7)
    texts = [b""] + [
        bytes(rng.integers(0x20, 0x7F, rng.integers(1, 120)).tolist()) for _ in range(40)
    ]
    hashes = [tok.encode(t) for t in texts]
    emissions = integer_emissions(model, tagger, hashes)
    seen: set[int] = set()
    for text, e, path in zip(texts, emissions, integer_tags(model, tagger, hashes), strict=True):
        r = engine.tag(text)
        assert r.emissions == e.tolist(), text
        assert r.tags == path, text
        assert r.logits == engine.classify(text).logits
        seen |= set(path)
    assert len(seen) >= 2  # the paths are not all one tag


def test_engine_refuses_damaged_blob(host_lib):
    blob = bytearray((GOLDEN / "intlstm" / "model.blob").read_bytes())
    blob[1000] ^= 0x40
    with pytest.raises(FirmwareError, match="bad crc"):
        host_lib.engine(bytes(blob))


def _with_version(blob: bytes, version: int) -> bytes:
    b = bytearray(blob)
    b[8:12] = version.to_bytes(4, "little")
    b[-4:] = zlib.crc32(bytes(b[:-4])).to_bytes(4, "little")
    return bytes(b)


def test_device_update_confirm_and_rollback_refusal(host_lib):
    blob = (GOLDEN / "intlstm" / "model.blob").read_bytes()
    dev = host_lib.device()
    assert dev.boot() != 0  # blank flash: no model
    dev.install(_with_version(blob, 1), 1)
    assert dev.boot() == 0
    assert dev.state() == (0, NONE, 1, 1)
    dev.install(_with_version(blob, 2), 2)
    dev.reboot()
    assert dev.boot() == 0
    assert dev.state() == (1, NONE, 2, 2)
    with pytest.raises(FirmwareError, match="rollback"):
        dev.install(_with_version(blob, 1), 1)
    assert dev.engine().classify("上海仓库存预警通知".encode()).logits


@pytest.mark.parametrize("cut_op", [0, 1, 20, 43, 44, 45])  # slot erase, chunks 1..43, metadata
def test_device_power_cut_through_the_abi_still_boots(host_lib, cut_op):
    """The C power-loss test covers every operation; this drives the same path via ctypes."""
    blob = (GOLDEN / "intlstm" / "model.blob").read_bytes()
    dev = host_lib.device()
    dev.install(_with_version(blob, 1), 1, chunk=8192)
    assert dev.boot() == 0
    host_lib.check(dev.lib.lib.tl_api_device_power_cut(dev.ctx, cut_op, 1, 2), "power cut")
    with pytest.raises(FirmwareError, match="flash"):
        dev.install(_with_version(blob, 2), 2, chunk=8192)
    dev.reboot()
    assert dev.boot() == 0
    assert dev.state() == (0, NONE, 1, 1)  # slot A confirmed, no trial, v1 runs
    dev.install(_with_version(blob, 2), 2, chunk=8192)
    dev.reboot()
    assert dev.boot() == 0
    assert dev.state()[2] == 2


def test_selftest_records_longer_than_max_len_and_a_wrong_logit(host_lib, random_model):
    """The C reader accepts what models/blob.py accepts (STST records may exceed max_len), and
    the self-test catches a single wrong logit."""
    model = random_model(max_len=4, seed=11)
    rng = np.random.default_rng(3)
    seqs = [rng.integers(2, model.vocab_size, n).tolist() for n in (0, 3, 9)]
    blob = write_blob(model, model_version=1, selftest=seqs)
    assert host_lib.engine(blob).selftest() == 0
    bad = bytearray(blob)
    bad[-8] ^= 1  # the last logit of the last record (STST is the last tensor)
    bad[-4:] = zlib.crc32(bytes(bad[:-4])).to_bytes(4, "little")
    assert host_lib.engine(bytes(bad)).selftest() == -17  # TL_ERR_SELFTEST


# C status for each models.blob error class (tl_status.h).
C_STATUS = {
    "BlobTruncatedError": -3,
    "BlobMagicError": -4,
    "BlobVersionError": -5,
    "BlobOversizedError": -6,
    "BlobCRCError": -7,
    "BlobInconsistentError": -8,
    "BlobTokenizerVersionError": -19,
}


def _c_parse_status(host_lib, data: bytes) -> int:
    ctx = ctypes.create_string_buffer(host_lib.lib.tl_api_engine_size())
    buf = ctypes.create_string_buffer(data, len(data) or 1)
    return int(host_lib.lib.tl_api_engine_init(ctx, buf, ctypes.c_size_t(len(data))))


@pytest.fixture(scope="module", params=["v1", "v2", "tagged"])
def small_blob(request):
    return tiny_blob(v2=request.param == "v2", tagged=request.param == "tagged")


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_c_and_python_blob_readers_agree_on_damaged_blobs(host_lib, small_blob, data):
    """Random byte edits (CRC re-sealed or not) and cuts: both readers accept, or both refuse
    with the same error class."""
    blob = bytearray(small_blob)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(blob)))
        blob = blob[:cut]
    if len(blob) >= 68 and data.draw(st.booleans()):
        blob[-4:] = zlib.crc32(bytes(blob[:-4])).to_bytes(4, "little")
    try:
        read_blob(bytes(blob))
        want = 0
    except BlobError as exc:
        want = C_STATUS[type(exc).__name__]
    assert _c_parse_status(host_lib, bytes(blob)) == want


@pytest.mark.parametrize("v2", [False, True])
def test_engine_scratch_covers_the_largest_model(host_lib, random_model, kernels, v2):
    """H = E = 256 and max_len = 1024 (the format's limits; with the hash embedding and mean+max
    pooling, the largest scratch) bind and run in the ABI's fixed scratch."""
    extra = {"hashes": 4, "buckets": 3, "pooling": 1} if v2 else {}
    model = random_model(vocab=16, embed=256, hidden=256, labels=2, max_len=1024, **extra)
    engine = host_lib.engine(write_blob(model, model_version=1, selftest=[[2, 3, 4]]))
    assert engine.selftest() == 0
    text = " ".join(["ab"] * 1100).encode()
    r = engine.classify(text)
    assert len(r.ids) == 1024
    hashes = Tokenizer(max_len=1024).encode(text)
    assert r.logits == integer_logits(model, [hashes])[0].tolist()


def test_batch_classify_equals_one_by_one(host_lib, kernels):
    """tl_api_classify_batch (what the CPU benchmark times at batch 64) gives each text the
    labels and logits of a tl_api_classify call of its own."""
    lib = host_lib.lib
    blob = (GOLDEN / "intlstm" / "model.blob").read_bytes()
    engine = host_lib.engine(blob)
    _, cases = golden_cases(GOLDEN / "intlstm" / "cases.jsonl")
    texts = [bytes.fromhex(c["hex"]) for c in cases[:70]]
    offsets = (ctypes.c_uint32 * (len(texts) + 1))(*[0, *np.cumsum([len(t) for t in texts])])
    n, c = len(texts), engine.num_labels
    labels, logits = (ctypes.c_uint32 * n)(), (ctypes.c_int32 * (n * c))()
    conf = (ctypes.c_float * n)()
    joined = ctypes.create_string_buffer(b"".join(texts), sum(map(len, texts)) or 1)
    status = lib.tl_api_classify_batch(engine.ctx, joined, offsets, n, labels, logits, c, conf)
    assert status == 0
    for k, text in enumerate(texts):
        one = engine.classify(text)
        assert (labels[k], list(logits[k * c : (k + 1) * c])) == (one.label, one.logits)
        assert conf[k] == pytest.approx(one.confidence)
