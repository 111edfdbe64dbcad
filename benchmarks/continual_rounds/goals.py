"""The goals a run is reported against, from its per-round records.

- adaptation: after each drift, the int8 student reaches >= 95 % of the teacher's accuracy on
  the new phase within 2 rounds;
- retention: after 4 more rounds, no earlier phase lost more than 1 point against the round it
  was last trained on (phase 0: release 1; phase p: the last round of phase p);
- labels: at most 5 % of the traffic labeled by the teacher;
- bounded memory: the samples the store keeps after a cycle (its replay memory) never exceed
  the memory size; it holds more only until the next cycle (the labels that wait for it).
"""

from __future__ import annotations

from typing import Any

ADAPT_RATIO = 0.95
ADAPT_ROUNDS = 2
RETAIN_POINTS = 0.01
RETAIN_AFTER = 4
LABEL_SHARE = 0.05


def forgetting_matrix(records: list[dict[str, Any]], kind: str = "int8") -> list[list[float]]:
    """Rows: rounds (0 = release 1); columns: phases; cells: accuracy on the phase's test."""
    phases = sorted(records[0][kind])
    return [[r[kind][p] for p in phases] for r in records]


def evaluate(
    records: list[dict[str, Any]], teacher: dict[int, float], memory_size: int
) -> dict[str, Any]:
    """The goals, met or missed and by how much, for one variant's rounds."""
    phases = sorted(records[0]["int8"])
    drifts = [p for p in phases if p > 0]
    # 1. adaptation: best int8 accuracy on phase p within its first ADAPT_ROUNDS rounds
    adaptation = {}
    for p in drifts:
        rows = [r for r in records if r["phase"] == p and r["round_in_phase"] <= ADAPT_ROUNDS]
        if not rows:
            continue
        best = max(r["int8"][p] for r in rows)
        ratio = best / teacher[p] if teacher[p] else 0.0
        adaptation[p] = {
            "int8": best, "teacher": round(teacher[p], 4), "ratio": round(ratio, 4),
            "by_round": [round(r["int8"][p] / teacher[p], 4) for r in rows],
            "met": ratio >= ADAPT_RATIO,
        }  # fmt: skip
    # 2. retention: loss on phase q RETAIN_AFTER rounds after it was last trained on
    retention = {}
    for q in phases:
        learned = max((i for i, r in enumerate(records) if r["phase"] == q), default=None)
        if learned is None or learned + RETAIN_AFTER >= len(records):
            continue
        before = records[learned]["int8"][q]
        after = records[learned + RETAIN_AFTER]["int8"][q]
        worst = min(r["int8"][q] for r in records[learned + 1 : learned + RETAIN_AFTER + 1])
        retention[q] = {
            "learned_round": learned, "accuracy": before,
            f"after_{RETAIN_AFTER}_rounds": after, "loss_points": round(100 * (before - after), 2),
            "worst_loss_points": round(100 * (before - worst), 2),
            "met": before - after <= RETAIN_POINTS + 1e-9,
        }  # fmt: skip
    # 3. labels and 4. memory
    traffic = sum(r.get("traffic", 0) for r in records)
    labels = sum(r.get("labels", 0) for r in records)
    store_max = max((r["store_samples"] for r in records[1:]), default=0)
    memory_max = max((r["store_memory"] for r in records[1:]), default=0)
    return {
        "adaptation": adaptation,
        "adaptation_met": bool(adaptation) and all(a["met"] for a in adaptation.values()),
        "retention": retention,
        "retention_met": bool(retention) and all(a["met"] for a in retention.values()),
        "label_share": round(labels / traffic, 4) if traffic else 0.0,
        "labels_met": traffic > 0 and labels / traffic <= LABEL_SHARE,
        "store_max": store_max,
        "memory_max": memory_max,
        "memory_size": memory_size,
        "memory_met": memory_max <= memory_size,
    }
