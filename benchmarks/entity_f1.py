"""Entity F1 of teacher, tagging students without and with KD, and their int8 engines.

Runs ``benchmarks.entity_report.run_entity_eval`` on phase 0 of the synthetic corpus (seed 0) and
prints its rows as JSON (and the Markdown table on stderr): exact-span entity P/R/F1 overall,
per type (ID, CARRIER, PLACE, DATE, QTY) and per language (zh, en, mix).

    python -m benchmarks.entity_f1 [--train 6000] [--tag-teacher-steps 300] [--work var/entities]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/student_baselines.py

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from benchmarks.entity_report import EntityEvalConfig, render_entity_table, run_entity_eval

    parser = argparse.ArgumentParser(prog="python -m benchmarks.entity_f1", description=__doc__)
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--teacher-steps", type=int, default=300)
    parser.add_argument("--tag-teacher-steps", type=int, default=300)
    parser.add_argument("--stages", default="3,5,0", help="hard,output,full epochs of the KD row")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cls-teacher", type=Path, help="an already fine-tuned teacher folder")
    parser.add_argument("--work", type=Path, default=Path("var/entities"))
    args = parser.parse_args(argv)
    stages = tuple(int(x) for x in args.stages.split(","))
    assert len(stages) == 3, "--stages takes three epoch counts"
    config = EntityEvalConfig(train=args.train, test=args.test, teacher_steps=args.teacher_steps,
                              tag_teacher_steps=args.tag_teacher_steps, threads=args.threads,
                              stage_epochs=stages)  # type: ignore[arg-type]  # fmt: skip
    result = run_entity_eval(config, args.work, cls_teacher=args.cls_teacher)
    (args.work / "entities.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(render_entity_table(result), file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
