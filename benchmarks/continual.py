"""Continual distillation under successive drifts, measured round by round.

For each scenario (``synthetic``: the corpus' phases 0 -> 1 -> 2 -> 3; ``real``: Banking77 +
SMP2017-ECDT with intents arriving in stages, a shifting class mix and a phrasing change;
``benchmarks/continual_rounds/scenarios.py``) release 1 is a student trained on phase 0. Then
every phase brings ``--rounds`` rounds; a round is ``--traffic`` messages classified by the
current release on the firmware's C engine, windowed and sampled by the processor's own
aggregator at the variant's label budget and strategy, labeled by the teacher, and one
``services.distiller.cycle.run_cycle`` (fine-tune with the replay memory and replay set,
gate, int8 export, signed release). After each round the newest release is scored on every
phase's test set (float and int8): the forgetting matrix.

Variants (``--variants``, default: one factor at a time around the distiller's defaults):
sampling strategies at equal budget (random, least-confidence, margin, entropy, and
least-confidence with a random control share), forgetting counter-measures (replay memory,
none, Learning without Forgetting, both), memory policies (class-balanced, reservoir,
recent) and budgets of 1, 2 and 5 % of traffic. Goals: ``continual_rounds/goals.py``.

The teacher is a fine-tuned e5-small that never saw the traffic or a test message: for the
synthetic scenario trained on labeled messages of phases 0-2 (phase 3 is new to it too), one
per data set on its training split for the real one (``make_teacher``), cached;
``--teacher oracle`` uses gold labels at p = 0.9 instead (test-sized runs). Each variant's
rounds are cached as JSON, so an interrupted run continues.

    python -m benchmarks.continual [--scenarios synthetic,real] [--variants ...] [--quick]
        [--teacher finetune|oracle|FOLDER] [--student default|tiny]
        [--out docs/continual.json]     # + docs/continual-<scenario>.png
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def variants() -> dict[str, Any]:
    from benchmarks.continual_rounds.rounds import Variant

    v = Variant
    return {x.name: x for x in (
        v("least_confidence"),
        v("margin", sampling="margin"),
        v("entropy", sampling="entropy"),
        v("random", sampling="random"),
        v("least_confidence+random_20", random_share=0.2),
        v("no_replay", replay="none"),
        v("lwf", replay="lwf"),
        v("memory+lwf", replay="memory+lwf"),
        v("memory_reservoir", memory_policy="reservoir"),
        v("memory_recent", memory_policy="recent"),
        v("budget_1", budget=0.01),
        v("budget_5", budget=0.05),
        v("budget_10", budget=0.10),
        v("budget_20", budget=0.20),
    )}  # fmt: skip


def build(name: str, quick: bool, traffic: int, rounds: int, seed: int):
    from benchmarks.continual_rounds import scenarios

    per_phase = traffic * rounds
    if name == "synthetic":
        return scenarios.synthetic(per_phase, 150 if quick else 600, 300 if quick else 2000, seed)
    if name == "real":
        return scenarios.real(per_phase, 150 if quick else 600, seed)
    raise SystemExit(f"unknown scenario {name!r}; use synthetic or real")


def make_teacher(spec: str, scenario, root: Path):
    """The scenario's teacher: ``oracle``, a folder, or (``finetune``) e5-small fine-tuned
    with early stopping (``teachers.finetuned_teacher``, cached under ``root``): for
    ``synthetic`` on the labeled and validation messages of phases 0-2 (phase 3 is new to
    it too), for ``real`` one per data set on its whole training split, routed by script."""
    from benchmarks.continual_rounds import teachers

    if spec == "oracle":
        gold = [*scenario.initial_train, *(e for p in scenario.phases for e in p.traffic),
                *(e for p in scenario.phases for e in p.test)]  # fmt: skip
        return teachers.OracleTeacher(gold)
    if spec != "finetune":
        return teachers.FinetunedTeacher(Path(spec))
    if scenario.name == "synthetic":
        known = scenario.phases[:3]
        folder = teachers.finetuned_teacher(
            "synthetic", [e for p in known for e in p.labeled],
            [e for p in known for e in p.valid[:200]], root,
        )  # fmt: skip
        return teachers.FinetunedTeacher(folder)
    from models.data.loaders import load_public

    sets = {
        name: teachers.FinetunedTeacher(teachers.finetuned_teacher(
            name, load_public(name, "train"), load_public(name, "valid"), root))
        for name in scenario.notes["sets"]
    }  # fmt: skip
    return teachers.RoutedTeacher(sets, cjk="ecdt", other="banking")


def run_scenario(name: str, args: argparse.Namespace, chosen: list[Any]) -> dict[str, Any]:
    import torch

    from benchmarks.continual_rounds import goals, rounds
    from benchmarks.continual_rounds.teachers import accuracy

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    scenario = build(name, args.quick, args.traffic, args.rounds, args.seed)
    root = Path(args.work)
    teacher = make_teacher(args.teacher, scenario, root)
    teacher_acc = {p.index: accuracy(teacher, p.test) for p in scenario.phases}
    loop = rounds.Loop(
        rounds_per_phase=args.rounds, traffic_per_round=args.traffic, steps=args.steps,
        engine=args.engine, seed=args.seed,
    )  # fmt: skip
    student = rounds.TINY_STUDENT if args.student == "tiny" else None
    setup = {"scenario": name, "loop": dataclasses.asdict(loop), "teacher": teacher.teacher_id,
             "student_steps": args.student_steps, "student": student or "default",
             "quick": args.quick}  # fmt: skip
    key = hashlib.sha256(json.dumps(setup, sort_keys=True).encode()).hexdigest()[:10]
    work = root / f"{name}-{key}"
    first = rounds.train_first_release(
        scenario, work / "v1", args.student_steps, args.seed, student
    )
    out: dict[str, Any] = {
        "setup": {**setup, **scenario.notes,
                  "phases": [{"phase": p.index, "labels": len(p.labels), "test": len(p.test),
                              "what": p.description} for p in scenario.phases],
                  "initial_train": len(scenario.initial_train)},
        "teacher_accuracy": {p: round(a, 4) for p, a in teacher_acc.items()},
        "variants": {},
    }  # fmt: skip
    for variant in chosen:
        digest = hashlib.sha256(repr(variant).encode()).hexdigest()[:8]
        cache = work / f"{variant.name}-{digest}.json"
        if cache.is_file():
            result = json.loads(cache.read_text())
        else:
            print(f"# {name}: {variant.name}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            result = rounds.run_variant(
                scenario, teacher, variant, loop, first, work / variant.name
            )
            result["seconds"] = round(time.perf_counter() - t0, 1)
            result = json.loads(json.dumps(result))  # int phase keys -> str, as when cached
            cache.write_text(json.dumps(result, ensure_ascii=False, indent=1))
        records = _int_keys(result["rounds"])
        memory = variant.memory_size if variant.replay.startswith("memory") else 0
        result["goals"] = goals.evaluate(records, teacher_acc, memory)
        result["matrix_int8"] = goals.forgetting_matrix(records, "int8")
        result["matrix_float"] = goals.forgetting_matrix(records, "float")
        out["variants"][variant.name] = result
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _int_keys(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in records:
        for kind in ("float", "int8"):
            r[kind] = {int(k): v for k, v in r[kind].items()}
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.continual")
    parser.add_argument("--scenarios", default="synthetic,real")
    parser.add_argument("--variants", default="all", help="comma-separated names, or all")
    parser.add_argument("--teacher", default="finetune", help="finetune | oracle | a folder")
    parser.add_argument("--traffic", type=int, default=4000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per drift phase")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps per cycle")
    parser.add_argument("--student-steps", type=int, default=600, help="release 1's training")
    parser.add_argument("--student", default="default", choices=("default", "tiny"),
                        help="release 1's size (tiny: test-sized runs)")  # fmt: skip
    parser.add_argument("--engine", default="c", choices=("c", "reference"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="test-sized corpus")
    parser.add_argument("--work", default=str(REPO / "var/bench/continual"))
    parser.add_argument("--out", help="write the JSON here (and plots beside it)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    table = variants()
    names = list(table) if args.variants == "all" else args.variants.split(",")
    unknown = [n for n in names if n not in table]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(table)}")
    started = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "continual", "scenarios": {}}
    for name in args.scenarios.split(","):
        result["scenarios"][name] = run_scenario(name, args, [table[n] for n in names])
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if args.out:
        from benchmarks.continual_rounds.plots import plot

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
        for name, scenario in result["scenarios"].items():
            plot(scenario, out.with_name(f"{out.stem}-{name}.png"))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
