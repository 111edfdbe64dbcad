"""The full evaluation report (``fleet report`` without ``--quick``), as part of ``make bench``.

Fine-tunes the teacher and trains every student row on the full synthetic corpus, Banking77
and ECDT, then writes ``docs/report.md`` + ``docs/report.png`` and prints the table rows as
JSON. Hours on a 2-core CPU; ``fleet report --quick`` is the ~15-minute subsampled version.

    python -m benchmarks.evaluation_report [--threads 2] [--out docs/report.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/student_baselines.py

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.md")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "var" / "report")
    args = parser.parse_args(argv)

    from models.report import ReportConfig, run_report

    config = ReportConfig.preset(quick=False, threads=args.threads)
    path = run_report(config, args.out, args.work_dir)
    results = json.loads((args.work_dir / "results.json").read_text())
    rows = {name: data["rows"] for name, data in results["datasets"].items()}
    print(json.dumps({"benchmark": "evaluation_report", "report": str(path), "rows": rows},
                     ensure_ascii=False, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
