"""Charts of one scenario's run (matplotlib, Agg): the forgetting matrix of the first variant
as accuracy per phase over rounds, and the variants side by side on the goals."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(scenario: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = scenario["variants"]
    if not variants:
        return
    first_name = next(iter(variants))
    first = variants[first_name]
    teacher = {int(k): v for k, v in scenario["teacher_accuracy"].items()}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    # 1. accuracy on every phase's test set after each round (int8), teacher dashed
    rounds = [r["round"] for r in first["rounds"]]
    matrix = first["matrix_int8"]
    for p in range(len(matrix[0])):
        line = left.plot(rounds, [row[p] for row in matrix], marker="o", label=f"phase {p}")
        left.axhline(teacher[p], color=line[0].get_color(), linestyle=":", linewidth=1)
    for r in first["rounds"][1:]:
        if r["round_in_phase"] == 1:
            left.axvline(r["round"] - 0.5, color="grey", linewidth=0.6)
    left.set_xlabel("round (0 = release 1; grey: a drift begins)")
    left.set_ylabel("int8 accuracy on the phase's test set")
    left.set_title(f"{scenario['setup']['scenario']}: {first_name} (dotted: teacher)")
    left.legend(fontsize=8)
    # 2. per variant: worst adaptation ratio within 2 rounds, worst retention loss
    names = list(variants)
    adapt = [min((a["ratio"] for a in v["goals"]["adaptation"].values()), default=0.0)
             for v in variants.values()]  # fmt: skip
    loss = [max((a["loss_points"] for a in v["goals"]["retention"].values()), default=0.0)
            for v in variants.values()]  # fmt: skip
    y = range(len(names))
    right.barh([i + 0.2 for i in y], adapt, height=0.4, label="worst int8/teacher within 2 rounds")
    right.axvline(0.95, color="C0", linestyle=":")
    twin = right.twiny()
    twin.barh([i - 0.2 for i in y], loss, height=0.4, color="C3",
              label="worst loss on an earlier phase after 4 rounds (points)")  # fmt: skip
    twin.axvline(1.0, color="C3", linestyle=":")
    right.set_yticks(list(y), names, fontsize=8)
    right.set_xlabel("int8 / teacher accuracy on the new phase (goal >= 0.95)")
    twin.set_xlabel("points lost (goal <= 1)", color="C3")
    right.legend(loc="lower right", fontsize=7)
    twin.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
