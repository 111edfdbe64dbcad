"""Drift scenarios: a world the first release is trained on (phase 0) and the phases that
follow it, each with a pool of traffic messages and a test set with gold labels.

- ``synthetic``: the synthetic logistics corpus' phases 0 -> 1 -> 2 -> 3 (new carriers,
  places and phrasing in each, a shifted label mix, the new label 拦截 in phase 2, a
  returns-led mix in phase 3; ``models.data.synth``).
- ``real``: Banking77 (English, 77 intents) and SMP2017-ECDT (Chinese, 31 intents) together,
  one bilingual intent model, as a fleet would see them: intents arrive in stages (40 % of
  each set's intents in phase 0, 30 % more in phase 1, the rest in phase 2; a new intent is
  three times as frequent as an old one in the phase it arrives), the class mix shifts, and
  phrasing changes in phase 3 (the longer half of each intent's messages, longer than the
  intent's median training message, which earlier phases never showed, with a fresh class
  mix). The teachers and release 1 learn from the training split; the traffic is one half of
  the test split (by text hash), the test sets the other half, so no model has seen a
  message of the traffic or of a test set.
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from models.data.record import Example


@dataclass(frozen=True)
class Phase:
    index: int
    labels: tuple[str, ...]  # labels present
    traffic: list[Example]  # messages the devices classify in this phase (drawn in order)
    test: list[Example]  # gold-labeled, for the forgetting matrix
    description: str = ""
    labeled: list[Example] = field(default_factory=list)  # the operator's labeled messages
    valid: list[Example] = field(default_factory=list)  # ... and validation messages


@dataclass(frozen=True)
class Scenario:
    name: str
    phases: list[Phase]
    initial_train: list[Example]  # phase-0 labeled messages: the first release's training set
    initial_valid: list[Example]  # its early stopping, and the gate's replay validation set
    notes: dict[str, object] = field(default_factory=dict)


def _half(text: str, salt: str) -> int:
    return hashlib.sha256(f"{salt}:{text}".encode()).digest()[0] % 2


def _draw(rng: random.Random, pool: list[Example], n: int) -> list[Example]:
    """``n`` messages from ``pool``: a shuffled pass, then another, ... (texts repeat only
    after the whole pool was sent once)."""
    out: list[Example] = []
    while len(out) < n:
        order = pool[:]
        rng.shuffle(order)
        out += order[: n - len(out)]
    return out


def synthetic(
    traffic_per_phase: int,
    test_per_phase: int,
    labeled_per_phase: int,
    seed: int = 0,
    valid_per_phase: int = 500,
) -> Scenario:
    """Phases 0-3 of the synthetic corpus (seed ``seed``): per phase ``labeled_per_phase``
    labeled messages (phase 0's train release 1; phases 0-2's train the fine-tuned teacher),
    then the traffic pool; validation and test messages apart."""
    from models.data.synth import SynthConfig, synth_examples

    corpus = SynthConfig(
        seed=seed, train=labeled_per_phase + traffic_per_phase, valid=valid_per_phase,
        test=test_per_phase, phases=4,
    )  # fmt: skip
    phases = []
    initial_train: list[Example] = []
    initial_valid: list[Example] = []
    what = {
        0: "phase 0: the world release 1 was trained on",
        1: "phase 1: peak season (new carriers, places, phrasing; more delays and customs)",
        2: "phase 2: spring (new label 拦截, new carriers and phrasing, shifted mix)",
        3: "phase 3: mid-year sale (live-stream shops, cross-border, returns-led mix)",
    }
    for p in range(4):
        train = synth_examples(corpus, p, "train")
        labeled, pool = train[:labeled_per_phase], train[labeled_per_phase:]
        valid = synth_examples(corpus, p, "valid")
        if p == 0:
            initial_train, initial_valid = labeled, valid
        test = synth_examples(corpus, p, "test")
        phases.append(Phase(p, corpus.labels(p), pool, test, what[p], labeled, valid))
    return Scenario(
        "synthetic", phases, initial_train, initial_valid,
        {"corpus": f"fleet data synth --seed {seed} --phases 4 (train "
                   f"{labeled_per_phase} labeled + {traffic_per_phase} traffic, test "
                   f"{test_per_phase} per phase)"},
    )  # fmt: skip


# --- the real-data scenario -------------------------------------------------------------------

STAGES = (0.4, 0.7, 1.0)  # cumulative share of each data set's intents present in phase 0, 1, 2
NEW_INTENT_WEIGHT = 3.0  # an intent is this much more frequent in the phase it arrives in


def real(
    traffic_per_phase: int, test_per_phase: int, seed: int = 0, sets: tuple[str, ...] = ()
) -> Scenario:
    """Banking77 + SMP2017-ECDT (``sets`` to pick fewer) as four drift phases."""
    from models.data.loaders import load_public

    names = sets or ("banking", "ecdt")
    rng = random.Random(f"continual-real:{seed}")
    train = {n: load_public(n, "train") for n in names}
    valid = {n: load_public(n, "valid") for n in names}
    test = {n: load_public(n, "test") for n in names}
    # 1. intents in stages: a seeded order per data set, cut at STAGES
    arrival: dict[str, int] = {}
    for n in names:
        intents = sorted({e.label for e in train[n]})
        rng.shuffle(intents)
        for k, label in enumerate(intents):
            arrival[label] = next(p for p, share in enumerate(STAGES) if k < share * len(intents))
    assert len(arrival) == sum(len({e.label for e in train[n]}) for n in names), "label clash"
    # 2. phrasing: per intent, messages shorter than its median train length are "short"
    lengths: dict[str, list[int]] = defaultdict(list)
    for n in names:
        for e in train[n]:
            lengths[e.label].append(len(e.text))
    median = {label: statistics.median(v) for label, v in lengths.items()}

    def long(e: Example) -> bool:
        return len(e.text) > median[e.label]

    # 3. the test split's halves (by text hash): traffic pool and test sets
    all_test = [e for n in names for e in test[n]]
    pool = [e for e in all_test if _half(e.text, "traffic") == 0]
    held = [e for e in all_test if _half(e.text, "traffic") == 1]
    phases = []
    mix3 = {label: 3.0 ** rng.uniform(-1, 1) for label in sorted(arrival)}  # phase 3's mix
    for p in range(4):
        present = sorted(label for label, a in arrival.items() if a <= p)
        weight = (
            {label: mix3[label] for label in present}
            if p == 3
            else {
                label: NEW_INTENT_WEIGHT if arrival[label] == p and p > 0 else 1.0
                for label in present
            }
        )

        def wanted(e: Example, p: int = p, weight: dict[str, float] = weight) -> bool:
            return e.label in weight and long(e) == (p == 3)

        traffic = _mixed(rng, [e for e in pool if wanted(e)], weight, traffic_per_phase, True)
        tests = _mixed(rng, [e for e in held if wanted(e)], weight, test_per_phase, False)
        kind = "longer phrasing, new class mix" if p == 3 else (
            f"{sum(arrival[x] == p for x in present)} new intents" if p else "release 1's world"
        )  # fmt: skip
        phases.append(Phase(p, tuple(present), traffic, tests, f"phase {p}: {kind}"))
    phase0 = set(phases[0].labels)
    initial = [e for n in names for e in train[n] if e.label in phase0 and not long(e)]
    initial_valid = [e for n in names for e in valid[n] if e.label in phase0 and not long(e)]
    return Scenario(
        "real", phases, initial, initial_valid,
        {"sets": list(names), "intents": len(arrival),
         "intents_per_phase": [len(ph.labels) for ph in phases], "stages": list(STAGES),
         "traffic_pool": len(pool), "test_pool": len(held)},
    )  # fmt: skip


def _mixed(
    rng: random.Random, pool: list[Example], weight: dict[str, float], n: int, repeat: bool
) -> list[Example]:
    """``n`` messages of ``pool`` with labels drawn by ``weight``: traffic (``repeat``: a
    label's texts are sent again once all were sent) or a test set (each text at most once,
    so fewer than ``n`` when the pool is small)."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for e in pool:
        by_label[e.label].append(e)
    labels = sorted(label for label in weight if by_label[label])
    queues = {label: _draw(rng, by_label[label], len(by_label[label])) for label in labels}
    out: list[Example] = []
    while len(out) < n and labels:
        label = rng.choices(labels, weights=[weight[x] for x in labels])[0]
        if not queues[label]:
            if not repeat:
                labels.remove(label)
                continue
            queues[label] = _draw(rng, by_label[label], len(by_label[label]))
        out.append(queues[label].pop())
    return out
