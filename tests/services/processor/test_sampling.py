"""Candidate scoring and budgeted, capped, stratified, deduplicated selection."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.errors import ConfigError
from services.processor.sampling import (
    Candidate,
    keep_best,
    random_score,
    select,
    uncertainty,
)


def test_scores_match_hand_computation():
    assert uncertainty("least_confidence", [0.6, 0.3, 0.1]) == pytest.approx(0.4)
    assert uncertainty("margin", [0.6, 0.3, 0.1]) == pytest.approx(0.7)
    # top-k [.5, .5] sums to 1: no remainder; H = ln 2, divided by ln 3
    assert uncertainty("entropy", [0.5, 0.5]) == pytest.approx(math.log(2) / math.log(3))
    # [.5, .25] leaves .25 as remainder: H = .5 ln 2 + 2 * .25 ln 4 = 1.5 ln 2, over ln 3
    assert uncertainty("entropy", [0.5, 0.25]) == pytest.approx(1.5 * math.log(2) / math.log(3))
    # a single probability: margin against the remainder
    assert uncertainty("margin", [0.7]) == pytest.approx(1 - (0.7 - 0.3))


def test_unknown_strategy_names_the_valid_ones():
    with pytest.raises(ConfigError, match="least_confidence, margin, entropy"):
        uncertainty("random", [0.5])


def _c(mid: str, device: str, label: str, score: float, text: str | None = None) -> Candidate:
    return Candidate(
        message_id=mid, device_id=device, text=text or f"text {mid}", label=label, score=score
    )


def test_budget_per_device_cap_and_stratification():
    chatty = [_c(f"x{i}", "chatty", "a", 0.9 - i * 0.001) for i in range(50)]
    others = [_c("b1", "d2", "b", 0.3), _c("b2", "d3", "b", 0.2), _c("c1", "d4", "c", 0.1)]
    chosen = select(chatty + others, budget=6, per_device_cap=2)
    assert len(chosen) == 5  # 2 from chatty + 3 others; nothing else is allowed
    assert sum(c.device_id == "chatty" for c in chosen) == 2
    assert {c.message_id for c in chosen} >= {"b1", "b2", "c1"}
    chosen = select(chatty + others, budget=3, per_device_cap=2)
    # one per class in the first round, most uncertain class first
    assert [c.label for c in chosen] == ["a", "b", "c"]


def test_random_score_is_stable_and_uniform():
    scores = [random_score(f"dev-{i}") for i in range(4000)]
    assert scores[:3] == [random_score(f"dev-{i}") for i in range(3)]
    assert all(0 <= s < 1 for s in scores)
    assert abs(sum(scores) / len(scores) - 0.5) < 0.02
    assert abs(sum(s < 0.1 for s in scores) / len(scores) - 0.1) < 0.02


def test_a_random_sample_holds_out_its_share_in_the_distiller():
    """The uniform sample (the top scores) and the distiller's held-out set (by message-id
    hash) must be independent: with one hash the sample held out nothing."""
    from types import SimpleNamespace

    from services.distiller.cycle import is_holdout

    ids = [f"dev-{i}" for i in range(4000)]
    top = sorted(ids, key=random_score)[-400:]
    held = sum(is_holdout(SimpleNamespace(message_id=m), 0.2) for m in top)  # type: ignore[arg-type]
    assert 50 <= held <= 110  # 20 % of 400, give or take


def test_taken_candidates_count_towards_caps_and_are_not_chosen_again():
    taken = [_c("t1", "d1", "a", 0.9, "shared text")]
    pool = [_c("m1", "d1", "a", 0.8), _c("m2", "d2", "a", 0.7, "shared text"),
            _c("m3", "d2", "b", 0.6)]  # fmt: skip
    chosen = select(pool, budget=5, per_device_cap=1, taken=taken)
    assert [c.message_id for c in chosen] == ["m3"]  # d1 is at its cap, m2's text was taken


def test_identical_texts_are_labeled_once_best_copy_kept():
    dup = [_c("m1", "d1", "a", 0.5, "same  text"), _c("m2", "d2", "a", 0.8, " same text ")]
    chosen = select([*dup, _c("m3", "d3", "a", 0.1)], budget=5, per_device_cap=5)
    assert [c.message_id for c in chosen] == ["m2", "m3"]


def test_select_rejects_bad_arguments():
    with pytest.raises(ConfigError):
        select([], budget=-1, per_device_cap=1)
    with pytest.raises(ConfigError):
        select([], budget=1, per_device_cap=0)


candidates = st.lists(
    st.builds(
        Candidate,
        message_id=st.text("abcdef0123", min_size=1, max_size=6),
        device_id=st.sampled_from(["d1", "d2", "d3", "d4"]),
        text=st.text("xyz ", min_size=1, max_size=4),
        label=st.sampled_from(["a", "b", "c"]),
        score=st.floats(0, 1),
    ),
    max_size=40,
)


@given(candidates, st.integers(0, 20), st.integers(1, 5))
def test_selection_invariants(pool, budget, cap):
    chosen = select(pool, budget, cap)
    assert len(chosen) <= budget
    devices = [c.device_id for c in chosen]
    assert all(devices.count(d) <= cap for d in devices)
    texts = [" ".join(c.text.split()) for c in chosen]
    assert len(texts) == len(set(texts))
    # nothing is left unspent while an allowed candidate remains
    if len(chosen) < budget:
        remaining = [
            c for c in keep_best(pool) if c not in chosen and " ".join(c.text.split()) not in texts
        ]
        assert all(devices.count(c.device_id) >= cap for c in remaining)


def test_keep_best_is_bounded_and_ordered():
    pool = [_c(f"m{i}", "d1", "a", i / 10) for i in range(10)]
    assert [c.message_id for c in keep_best(pool, 3)] == ["m9", "m8", "m7"]
    assert Candidate.from_json(pool[0].to_json()) == pool[0]
