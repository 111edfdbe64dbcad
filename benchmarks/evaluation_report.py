"""The distillation report (``make bench``): teacher vs TinyLSTM student on three data sets.

For each data set (the synthetic logistics corpus, Banking77, SMP2017-ECDT): the teacher is
fine-tuned until its validation accuracy stops improving, a character TF-IDF + logistic
regression baseline is fitted, the transfer set is built and labeled by the teacher once, and
every student row of :data:`VARIANTS` is trained with several seeds; the default KD student is
also run through the device's integer arithmetic (post-training quantisation, and QAT then the
converter). Everything a run computes is kept in ``--work-dir`` (teachers, teacher logits,
per-seed results), so an interrupted run continues where it stopped. The results are written as
``docs/report.json`` and rendered to ``docs/report.md`` with plots (``benchmarks/report_render``).

    python -m benchmarks.evaluation_report                  # the full run (hours on 2 cores)
    python -m benchmarks.evaluation_report --quick          # subsampled smoke run (minutes)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/student_baselines.py

import argparse
import copy
import json
import platform
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("synth", "banking", "ecdt")


@dataclass(frozen=True)
class Variant:
    """One student row of the report: how it differs from the default KD student."""

    key: str  # name in report.json
    label: str  # row title in report.md
    kd: bool = True  # False: hard labels only, no teacher, no transfer set
    transfer: int | None = None  # augmented texts per example (None: the config's default)
    student: dict[str, Any] = field(default_factory=dict)  # StudentConfig overrides
    loss: dict[str, Any] = field(default_factory=dict)  # LossConfig overrides
    full_epochs: int = 0  # epochs of the "full" stage (hidden-state / attention transfer)


# spec v1's embedding (one table row per token), written out rather than imported from
# models.student so that importing this module does not import torch.
SPEC_V1: dict[str, Any] = {"hashes": 1, "buckets": 0}
# StudentConfig's embedding and pooling as they were before the hash embedding became the
# default: what a stored run without a "student" record was trained with, plus its row's
# overrides (see DatasetRun.migrate).
LEGACY_STUDENT: dict[str, Any] = {**SPEC_V1, "pooling": "last"}
VARIANTS = (
    Variant("student_no_kd", "student, no KD (gold labels only)", kd=False),
    Variant("student_kd", "student + KD (default recipe: hash embedding, last pooling)"),
    Variant(
        "kd_spec_v1",
        "KD, spec v1 embedding (one row per token, the former default)",
        student=SPEC_V1,
    ),
    Variant("kd_no_transfer", "KD without a transfer set", transfer=0),
    Variant("kd_transfer_2", "KD, 2 transfer texts per example", transfer=2),
    Variant(
        "kd_meanmax",
        "KD, spec v1 embedding + mean+max pooling",
        student={**SPEC_V1, "pooling": "meanmax"},
    ),
    Variant(
        "kd_hash_meanmax",
        "KD, mean+max pooling (hash embedding)",
        student={"hashes": 2, "buckets": 4096, "pooling": "meanmax"},
    ),
    Variant("kd_soft_only", "KD, soft targets only (alpha 1)", loss={"alpha": 1.0}),
    Variant("kd_hidden", "KD + hidden-state transfer (the seed's full stage)", full_epochs=2),
)
DEFAULT_KD = "student_kd"


@dataclass(frozen=True)
class ReportConfig:
    quick: bool = False  # subsampled data and short training: a smoke run, not the numbers
    datasets: tuple[str, ...] = DATASETS
    seeds: tuple[int, ...] = (0, 1, 2)  # one training run per seed and student row
    variants: tuple[str, ...] = tuple(v.key for v in VARIANTS)  # rows to run
    transfer: int = 10  # augmented texts per training example in the default recipe
    kd_epochs: int = 6  # epochs over train + transfer texts (output distillation)
    no_kd_epochs: int = 15  # epochs over the training set for the no-KD row
    teacher: str = "e5-small"  # fine-tuned per data set
    teacher_epochs: int = 10  # most teacher epochs (early stopping on validation accuracy)
    teacher_steps: int | None = None  # cap on teacher steps (quick runs)
    qat_steps: int = 300  # QAT steps of the int8 row
    max_train: int | None = None  # training examples kept per data set (None: all)
    max_eval: int | None = None  # validation and test examples kept (None: all)
    threads: int = 2  # torch threads

    @classmethod
    def preset(cls, quick: bool, **overrides: Any) -> ReportConfig:
        if quick:
            base = cls(quick=True, seeds=(0,), transfer=2, kd_epochs=1, no_kd_epochs=2,
                       teacher_steps=30, qat_steps=20, max_train=300, max_eval=200,
                       variants=("student_no_kd", "student_kd"))  # fmt: skip
        else:
            base = cls()
        return replace(base, **overrides)


def load_splits(name: str, config: ReportConfig) -> tuple[list, list, list]:
    """(train, valid, test) of one data set, subsampled as ``config`` says."""
    from models.data import load_public
    from models.data.synth import SynthConfig, synth_examples

    if name == "synth":
        synth = SynthConfig(seed=0, phases=1)
        train, valid, test = (synth_examples(synth, 0, s) for s in ("train", "valid", "test"))
    else:
        train, valid, test = (load_public(name, s) for s in ("train", "valid", "test"))

    def cap(examples: list, n: int | None, salt: int) -> list:
        return (
            examples if n is None or len(examples) <= n else random.Random(salt).sample(examples, n)
        )

    return (
        cap(train, config.max_train, 0),
        cap(valid, config.max_eval, 1),
        cap(test, config.max_eval, 2),
    )


class LogitTable:
    """The teacher as distillation sees it (``models.kd_targets.TargetTeacher``): logits looked
    up from one labeling pass over every text a run uses; hidden states from the teacher."""

    def __init__(self, source: Any, texts: Sequence[str], logits: np.ndarray) -> None:
        self.source = source
        self.teacher_id = source.teacher_id
        self.hidden_size = source.hidden_size
        self.row = {text: k for k, text in enumerate(texts)}
        self.table = logits

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self.table[[self.row[t] for t in texts]]

    def targets(self, texts: Sequence[str]) -> list:
        return list(self.source.targets(texts))


def student_fields(variant: Variant) -> dict[str, Any]:
    """The embedding and pooling ``variant`` trains (StudentConfig's defaults + its overrides),
    recorded with every run so a stored run is never reused for a row that changed."""
    from models.student import StudentConfig

    config = StudentConfig(num_labels=2, **variant.student)
    return {"hashes": config.hashes, "buckets": config.buckets, "pooling": config.pooling}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation (sample, 0 for one run) of every numeric field."""
    out: dict[str, Any] = {"seeds": runs}
    for key in ("accuracy", "macro_f1", "int8_accuracy", "seconds"):
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            out[f"{key}_mean"] = round(statistics.fmean(values), 4)
            out[f"{key}_std"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
    return out


class DatasetRun:
    """Everything of one data set; results are saved after every training run."""

    def __init__(self, name: str, config: ReportConfig, work: Path) -> None:
        self.name, self.config, self.work = name, config, work
        self.train, self.valid, self.test = load_splits(name, config)
        self.labels = sorted({e.label for e in self.train})
        self.saved = work / "results.json"
        self.results: dict[str, Any] = (
            json.loads(self.saved.read_text()) if self.saved.is_file() else {}
        )
        self.migrate()

    def migrate(self) -> None:
        """Keep stored runs only under the row whose student they trained.

        Runs stored before the hash embedding became the default have no ``student`` record:
        they trained spec v1 plus their row's overrides. The old default row's runs are the
        ``kd_spec_v1`` row now (their int8 rows stay inside each run); any other stored run
        whose student differs from its row's current one is dropped, so it is trained again."""
        rows = self.results.get("rows", {})
        old_default = rows.get(DEFAULT_KD, {}).get("seeds", [])
        if old_default and "kd_spec_v1" not in rows and "student" not in old_default[0]:
            rows["kd_spec_v1"] = summarise(
                [r | {"student": dict(LEGACY_STUDENT)} for r in old_default]
            )
            for key in (DEFAULT_KD, "student_int8", "student_int8_qat"):
                rows.pop(key, None)
        for variant in VARIANTS:
            runs = rows.get(variant.key, {}).get("seeds", [])
            kept = [r for r in runs if self.student_of(r, variant) == student_fields(variant)]
            if len(kept) < len(runs):
                rows[variant.key] = summarise(kept)
                if variant.key == DEFAULT_KD:
                    rows.pop("student_int8", None)
                    rows.pop("student_int8_qat", None)

    @staticmethod
    def student_of(run: dict[str, Any], variant: Variant) -> dict[str, Any]:
        """The embedding and pooling a stored run trained (see :data:`LEGACY_STUDENT`)."""
        return run.get("student") or {**LEGACY_STUDENT, **variant.student}

    def save(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        tmp = self.saved.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.results, ensure_ascii=False, indent=1))
        tmp.replace(self.saved)

    def teacher(self) -> dict[str, Any]:
        """Fine-tune (or resume) the teacher; score it on the test set."""
        from models.data import write_jsonl
        from models.data.loaders import example_record
        from models.evaluate import compute_metrics
        from models.teacher.finetune import FinetuneConfig, finetune

        if "teacher" in self.results:
            return dict(self.results["teacher"])
        data, valid = self.work / "train.jsonl", self.work / "valid.jsonl"
        write_jsonl(data, (example_record(e) for e in self.train))
        write_jsonl(valid, (example_record(e) for e in self.valid))
        c = self.config
        started = time.perf_counter()
        ft = FinetuneConfig(teacher=c.teacher, epochs=c.teacher_epochs, max_steps=c.teacher_steps)
        result = finetune(data, self.work / "teacher", ft, progress=False, valid=valid)
        seconds = time.perf_counter() - started
        probs, known = self._teacher_probs([e.text for e in self.test], result.out_dir)
        y = np.array([result.labels.index(e.label) for e in known])
        report = compute_metrics(y, probs, result.labels)
        self.results["teacher"] = {
            "accuracy": round(report.accuracy, 4), "macro_f1": round(report.macro_f1, 4),
            "steps": result.steps, "best_epoch": result.best_epoch, "history": result.history,
            "seconds": round(seconds, 1), "labels": result.labels,
        }  # fmt: skip
        self.save()
        return dict(self.results["teacher"])

    def _teacher_probs(self, texts: list[str], folder: Path) -> tuple[np.ndarray, list]:
        from models.teacher import Teacher

        teacher = Teacher(folder, max_length=128)
        index = set(teacher.label_names)
        known = [e for e in self.test if e.label in index]
        logits = teacher.logits([e.text for e in known])
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True), known

    def tfidf(self) -> dict[str, Any]:
        from benchmarks.student_baselines import tfidf_baseline

        if "tfidf" not in self.results:
            self.results["tfidf"] = tfidf_baseline(self.train, self.test, self.labels)
            self.save()
        return dict(self.results["tfidf"])

    def transfer(self) -> tuple[list[dict[str, Any]], LogitTable]:
        """The largest transfer set any row uses, and the teacher's logits of every text."""
        from models.data.augment import augment_records
        from models.kd_targets import cached_logits
        from models.teacher_targets import TeacherTargets

        most = max([self.config.transfer] + [v.transfer or 0 for v in self.variants()])
        records = augment_records(self.train, most, seed=0)
        texts = [e.text for e in self.train] + [r["text"] for r in records]
        targets = TeacherTargets.load(self.work / "teacher", attentions=False)
        started = time.perf_counter()
        logits, hit = cached_logits(targets, texts, self.work / "kd-cache")
        if not hit:
            self.results["teacher_labeling"] = {
                "texts": len(texts), "seconds": round(time.perf_counter() - started, 1)
            }  # fmt: skip
            self.save()
        return records, LogitTable(targets, texts, logits.numpy())

    def variants(self) -> list[Variant]:
        return [v for v in VARIANTS if v.key in self.config.variants]

    def run(self) -> dict[str, Any]:
        import torch

        torch.set_num_threads(self.config.threads)
        started = time.perf_counter()
        self.teacher()
        self.tfidf()
        records, table = self.transfer()
        rows = self.results.setdefault("rows", {})
        for variant in self.variants():
            runs = rows.setdefault(variant.key, {}).setdefault("seeds", [])
            for seed in self.config.seeds:
                if any(r["seed"] == seed for r in runs):
                    continue
                runs.append(self.train_one(variant, seed, records, table))
                rows[variant.key] = summarise(runs)
                for extra in ("student_int8", "student_int8_qat"):
                    if extra in runs[-1]:
                        ints = [r[extra] | {"seed": r["seed"]} for r in runs if extra in r]
                        rows[extra] = summarise(ints) | {"blob_bytes": ints[-1]["blob_bytes"]}
                self.save()
        self.results["sizes"] = {
            "train": len(self.train), "valid": len(self.valid), "test": len(self.test),
            "labels": len(self.labels), "transfer_per_example": self.config.transfer,
        }  # fmt: skip
        self.results["seconds_this_run"] = round(time.perf_counter() - started, 1)
        self.save()
        return self.results

    def train_one(
        self, variant: Variant, seed: int, records: list[dict[str, Any]], table: LogitTable
    ) -> dict[str, Any]:
        """Train one student row with one seed; the default KD row also gets its int8 rows."""
        from models.distill import DistillConfig, distill
        from models.evaluate import evaluate_examples, integer_metrics
        from models.footprint import fit_to_slot
        from models.losses import LossConfig
        from models.qat import qat_finetune
        from models.student import StudentConfig

        c = self.config
        n = (variant.transfer if variant.transfer is not None else c.transfer) if variant.kd else 0
        transfer = [r["text"] for r in records if r["index"] < n]
        stages = (0, c.kd_epochs, variant.full_epochs) if variant.kd else (c.no_kd_epochs, 0, 0)
        student = fit_to_slot(StudentConfig(num_labels=len(self.labels), **variant.student),
                              self.labels)  # fmt: skip
        out = self.work / "students" / f"{variant.key}-seed{seed}"
        started = time.perf_counter()
        result = distill(
            self.train, self.valid, out,
            teacher=table if variant.kd else None,
            tokenizer=student.tokenizer(),
            transfer_texts=transfer,
            config=DistillConfig(stage_epochs=stages, seed=seed,
                                 loss=replace(LossConfig(), **variant.loss)),
            student=student, labels=self.labels, cache_dir=self.work / "kd-cache",
        )  # fmt: skip
        seconds = time.perf_counter() - started
        tokenizer = student.tokenizer()
        report = evaluate_examples(result.model, self.labels, tokenizer, self.test)
        row: dict[str, Any] = {
            "seed": seed, "accuracy": round(report.accuracy, 4),
            "macro_f1": round(report.macro_f1, 4), "seconds": round(seconds, 1),
            "transfer_texts": len(transfer), "best": result.best,
            "student": student_fields(variant),
        }  # fmt: skip
        ptq = integer_metrics(result.model, self.labels, tokenizer, self.test)
        if ptq is not None:
            row["int8_accuracy"] = round(ptq["accuracy"], 4)  # PTQ, integer reference
        if variant.key == DEFAULT_KD and ptq is not None:
            row["student_int8"] = ptq
            qat = qat_finetune(copy.deepcopy(result.model), self.train, self.valid, tokenizer,
                               labels=self.labels, steps=c.qat_steps, seed=seed)  # fmt: skip
            qat_int8 = integer_metrics(qat.model, self.labels, tokenizer, self.test)
            assert qat_int8 is not None, "QAT keeps the pooling"
            row["student_int8_qat"] = qat_int8
        return row


def run_report(config: ReportConfig, work: Path) -> dict[str, Any]:
    """Every data set of ``config``; returns the results report.json holds."""
    import torch

    results: dict[str, Any] = {"config": asdict(config), "datasets": {}}
    started = time.perf_counter()
    for name in config.datasets:
        results["datasets"][name] = DatasetRun(name, config, work / name).run()
    results["environment"] = {
        "cpu": platform.processor() or platform.machine(),
        "threads": config.threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(time.perf_counter() - started, 1),
        "seconds_all_runs": round(sum(
            d.get("teacher", {}).get("seconds", 0)
            + d.get("teacher_labeling", {}).get("seconds", 0)
            + sum(s["seconds"] for r in d.get("rows", {}).values() for s in r.get("seeds", [])
                  if "seconds" in s)
            for d in results["datasets"].values()
        ), 1),
    }  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report_render import summary, write_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="subsampled smoke run")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", type=int, default=None, help="seeds per student row")
    parser.add_argument("--variants", default=None, help="student rows to run (comma-separated)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="report.md (default docs/)")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--cost-cpu", type=Path, help="JSON of student_vs_teacher --out")
    parser.add_argument("--cost-mcu", type=Path, help="JSON of mcu_cost --out")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {"threads": args.threads,
                                 "datasets": tuple(args.datasets.split(","))}  # fmt: skip
    if args.seeds:
        overrides["seeds"] = tuple(range(args.seeds))
    if args.variants:
        overrides["variants"] = tuple(args.variants.split(","))
    config = ReportConfig.preset(args.quick, **overrides)
    unknown = sorted(set(config.datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown data sets {unknown}; choose from {list(DATASETS)}")
    known = [v.key for v in VARIANTS]
    unknown = sorted(set(config.variants) - set(known))
    if unknown or DEFAULT_KD not in config.variants:
        parser.error(f"variants must include {DEFAULT_KD} and be among {known}; got {unknown}")
    default_out = ROOT / ("var/report-quick/report.md" if args.quick else "docs/report.md")
    work = args.work_dir or ROOT / "var" / ("report-quick" if args.quick else "report")
    results = run_report(config, work)
    cost = {key: json.loads(path.read_text()) for key, path in
            (("cpu", args.cost_cpu), ("mcu", args.cost_mcu)) if path is not None}  # fmt: skip
    if cost:
        results["cost"] = cost  # the cost table of report.md (benchmarks/report_cost.py)
    paths = write_report(results, args.out or default_out)
    print(json.dumps({"benchmark": "evaluation_report", **{k: str(p) for k, p in paths.items()},
                      "summary": summary(results)}, ensure_ascii=False, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
