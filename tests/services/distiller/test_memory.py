"""The replay memory's policies: bounded, class-balanced by water-filling, uniform within a
class, the same when applied in steps (bottom-k), and the recent window."""

from __future__ import annotations

from collections import Counter

import pytest

from models.errors import ConfigError
from services.distiller.memory import POLICIES, quotas, select_memory
from tests.services.distiller.factories import labeled

LABELS = ("a", "b", "c")


def stream(counts: dict[str, int], prefix: str = "m"):
    pairs = [(f"{label} text {i}", label) for label, n in counts.items() for i in range(n)]
    return labeled(pairs, LABELS, prefix=prefix)


def test_quotas_are_equal_shares_water_filled():
    assert quotas({"a": 100, "b": 100, "c": 100}, 30) == {"a": 10, "b": 10, "c": 10}
    # a rare label keeps everything it has, the others share the rest
    assert quotas({"a": 100, "b": 3, "c": 100}, 30) == {"a": 14, "b": 3, "c": 13}
    assert quotas({"a": 2, "b": 3}, 30) == {"a": 2, "b": 3}
    assert quotas({"a": 5, "b": 0}, 3) == {"a": 3, "b": 0}
    assert sum(quotas({"a": 7, "b": 9, "c": 4}, 11).values()) == 11


def test_class_balanced_keeps_rare_labels_and_bounds_the_size():
    samples = stream({"a": 300, "b": 10, "c": 120})
    kept = select_memory(samples, 60, "class_balanced")
    counts = Counter(s.label for s in kept)
    assert len(kept) == 60 and counts == {"a": 25, "b": 10, "c": 25}
    # arrival order is kept
    order = {s.message_id: k for k, s in enumerate(samples)}
    assert [order[s.message_id] for s in kept] == sorted(order[s.message_id] for s in kept)


@pytest.mark.parametrize("policy", ["class_balanced", "reservoir"])
def test_uniform_policies_give_the_same_memory_in_steps_as_at_once(policy):
    first, second = stream({"a": 200, "b": 40, "c": 5}), stream({"a": 50, "b": 90}, prefix="n")
    at_once = select_memory([*first, *second], 50, policy)
    stepwise = select_memory([*select_memory(first, 50, policy), *second], 50, policy)
    if policy == "reservoir":  # bottom-k is exactly mergeable
        assert at_once == stepwise
    else:  # per label too, as long as no label's quota grew after it was cut
        assert Counter(s.label for s in at_once) == Counter(s.label for s in stepwise)


def test_reservoir_is_a_uniform_sample_and_recent_a_window():
    samples = stream({"a": 900, "b": 100})
    kept = select_memory(samples, 200, "reservoir")
    assert len(kept) == 200
    assert 5 <= Counter(s.label for s in kept)["b"] <= 40  # ~10 % of the stream
    assert select_memory(samples, 3, "recent") == samples[-3:]
    assert select_memory(samples, 0, "class_balanced") == []
    assert select_memory(samples[:5], 10, "reservoir") == samples[:5]


def test_bad_policy_or_size_is_refused():
    assert set(POLICIES) == {"class_balanced", "reservoir", "recent"}
    with pytest.raises(ConfigError, match="unknown memory policy"):
        select_memory(stream({"a": 3}), 1, "fifo")
    with pytest.raises(ConfigError, match=">= 0"):
        select_memory(stream({"a": 3}), -1, "recent")
