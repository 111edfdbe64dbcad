"""Entity F1 of teacher, tagging students without and with KD, and their int8 engines.

Runs ``benchmarks.entity_report.run_entity_eval`` on phase 0 of the synthetic corpus (seed 0) and
prints its rows as JSON (and the Markdown table on stderr): exact-span entity P/R/F1 overall,
per type (ID, CARRIER, PLACE, DATE, QTY) and per language (zh, en, mix).

    python -m benchmarks.entity_f1 [--train 6000] [--tag-teacher-steps 300] [--work var/entities]
        [--transfer 1] [--cls-teacher DIR] [--tag-teacher DIR] [--threads 1]

Long on a shared CPU (two e5-small fine-tunings, teacher targets, two students): run it with
``nice -n 15`` and ``OMP_NUM_THREADS=1``; an interrupted run started again with the same
``--work`` and options resumes after the last finished step. ``--transfer 0`` (no augmented
transfer texts) and ``--cls-teacher``/``--tag-teacher`` (reuse fine-tuned teachers) make it
cheaper.
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
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--transfer", type=int, default=1, help="transfer texts per example")
    parser.add_argument("--cls-teacher", type=Path, help="an already fine-tuned teacher folder")
    parser.add_argument("--tag-teacher", type=Path, help="an already fine-tuned tag teacher")
    parser.add_argument("--work", type=Path, default=Path("var/entities"))
    args = parser.parse_args(argv)
    stages = tuple(int(x) for x in args.stages.split(","))
    assert len(stages) == 3, "--stages takes three epoch counts"
    config = EntityEvalConfig(train=args.train, test=args.test, teacher_steps=args.teacher_steps,
                              tag_teacher_steps=args.tag_teacher_steps, threads=args.threads,
                              stage_epochs=stages, transfer=args.transfer)  # type: ignore[arg-type]  # fmt: skip
    result = run_entity_eval(config, args.work, cls_teacher=args.cls_teacher,
                             tag_teacher=args.tag_teacher)  # fmt: skip
    (args.work / "entities.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(render_entity_table(result), file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
