"""The integer tagger reference: per-token states, emissions against the float head, Viterbi
against brute force, int32 bounds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from models.intlstm import IntegerModelError, embed_tokens, pad_batch, run_direction
from models.inttagger import (
    EMISSION_LIMIT,
    SCORE_LIMIT,
    integer_emissions,
    integer_tags,
    quantize_tagger,
    viterbi,
)
from models.quantize import quantize_student
from models.student import StudentConfig, TinyLSTM
from models.tagging import NUM_TAGS

SEQS = [[5, 9, 17, 3], [], [40], [7, 7, 7, 7, 7, 7, 2]]


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    model = TinyLSTM(StudentConfig(num_labels=3, vocab_size=64, embed_dim=8, hidden=16,
                                   num_tags=NUM_TAGS))  # fmt: skip
    with torch.no_grad():
        model.crf.transitions.normal_()
        model.crf.start.normal_()
    return model.eval()


def test_all_states_end_in_the_final_state(student):
    integer = quantize_student(student, ["a", "b", "c"])
    ids, lengths = pad_batch(SEQS)
    x = embed_tokens(integer, ids)
    for reverse in (False, True):
        states = np.zeros((*x.shape[:2], integer.hidden), dtype=np.int64)
        final, _, _ = run_direction(integer.fwd, x, lengths, reverse, states=states)
        for b, n in enumerate(lengths):
            if n:
                assert np.array_equal(states[b, 0 if reverse else n - 1], final[b])
                assert not states[b, n:].any()


def test_integer_emissions_follow_the_float_head(student):
    integer = quantize_student(student, ["a", "b", "c"])
    tagger = quantize_tagger(student)
    emissions = integer_emissions(integer, tagger, SEQS)
    ids, lengths = pad_batch(SEQS)
    float_e = student.features(torch.as_tensor(ids), torch.as_tensor(lengths)).emissions
    assert float_e is not None
    for b, e in enumerate(emissions):
        assert e.dtype == np.int32 and e.shape == (len(SEQS[b]), NUM_TAGS)
        if len(e):
            ref = float_e[b, : len(e)].detach().numpy()
            assert np.abs(e / 1024.0 - ref).max() < 0.05 * np.abs(ref).max() + 0.02
    paths = integer_tags(integer, tagger, SEQS)
    assert [len(p) for p in paths] == [len(s) for s in SEQS]
    assert tagger.transitions.dtype == np.int32
    np.testing.assert_array_equal(
        tagger.start, np.round(student.crf.start.detach().numpy() * 1024).astype(np.int32)
    )


def brute_best_score(e, trans, start, end) -> int:
    T, K = e.shape
    best = None
    for path in itertools.product(range(K), repeat=T):
        s = int(start[path[0]]) + int(end[path[-1]]) + sum(int(e[t, path[t]]) for t in range(T))
        s += sum(int(trans[path[t - 1], path[t]]) for t in range(1, T))
        best = s if best is None else max(best, s)
    assert best is not None
    return best


def path_score(path, e, trans, start, end) -> int:
    s = int(start[path[0]]) + int(end[path[-1]]) + sum(int(e[t, k]) for t, k in enumerate(path))
    return s + sum(int(trans[a, b]) for a, b in itertools.pairwise(path))


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_finds_a_best_path(seed):
    rng = np.random.default_rng(seed)
    K, T = 4, 1 + seed % 5
    e = rng.integers(-3000, 3000, (T, K)).astype(np.int32)
    trans = rng.integers(-2000, 2000, (K, K)).astype(np.int32)
    start, end = (rng.integers(-2000, 2000, K).astype(np.int32) for _ in range(2))
    path, back = viterbi(e, trans, start, end)
    assert back.dtype == np.uint8 and back.shape == (T, K) and not back[0].any()
    assert path_score(path, e, trans, start, end) == brute_best_score(e, trans, start, end)


def test_viterbi_ties_and_extreme_values_stay_in_int32():
    K = NUM_TAGS
    assert viterbi(np.zeros((5, K), np.int32), *(np.zeros((K, K), np.int32),),
                   np.zeros(K, np.int32), np.zeros(K, np.int32))[0] == [0] * 5  # fmt: skip
    rng = np.random.default_rng(1)
    e = rng.choice([-EMISSION_LIMIT, EMISSION_LIMIT], (64, K)).astype(np.int32)
    trans = rng.choice([-SCORE_LIMIT, SCORE_LIMIT], (K, K)).astype(np.int32)
    path, _ = viterbi(e, trans, trans[0], trans[1])  # asserts every score fits int32
    assert len(path) == 64
    assert viterbi(np.zeros((0, K), np.int32), trans, trans[0], trans[1])[0] == []


def test_a_student_without_the_full_tag_set_is_refused():
    model = TinyLSTM(StudentConfig(num_labels=2, vocab_size=64, embed_dim=8, hidden=8, num_tags=3))
    with pytest.raises(IntegerModelError, match="3 tags"):
        quantize_tagger(model)


def test_engine_golden_vectors_are_reproduced_by_the_reference():
    """The committed tagger vectors for the C engine (tests/golden/tagger/cases.jsonl and its
    blobs) are what the reference computes from the blobs as read back."""
    import json
    from pathlib import Path

    from models.blob import read_blob
    from models.intlstm import integer_logits

    golden = Path(__file__).resolve().parents[1] / "golden" / "tagger"
    lines = (golden / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    header, cases = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert header["generator"] == "benchmarks.golden.inttagger" and len(cases) == header["count"]
    blobs = [read_blob((golden / name).read_bytes()) for name in header["blobs"]]
    assert {c["blob"] for c in cases} == set(range(len(blobs)))
    for index, blob in enumerate(blobs):
        assert blob.tagger is not None
        mine = [c for c in cases if c["blob"] == index]
        keys = [blob.model.tokenizer().encode(bytes.fromhex(c["hex"])) for c in mine]
        logits = integer_logits(blob.model, keys)
        paths = integer_tags(blob.model, blob.tagger, keys)
        emissions = integer_emissions(blob.model, blob.tagger, keys)
        for c, row, path, e in zip(mine, logits, paths, emissions, strict=True):
            assert c["logits"] == row.tolist() and c["tags"] == path
            assert c["emissions"] == e.flatten().tolist()
    assert len({t for c in cases for t in c["tags"]}) == blobs[0].tagger.num_tags  # every tag
