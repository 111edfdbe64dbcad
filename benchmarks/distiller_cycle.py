"""One redistillation cycle after drift: does the new release learn phase 2 without
forgetting phase 0, and how long does a cycle take?

1. A TinyLSTM (default size) is trained on synthetic phase 0 and stored as signed release 1.
2. Phase-2 traffic (which adds the label 拦截) is classified by release 1's integer model; the
   ``--labels`` least confident messages plus a 10 % uniform control sample are "labeled by
   the teacher". The teacher here is an oracle stand-in: the corpus's gold label softened to
   ``--teacher-confidence`` (no teacher runs, so the cycle's own cost is what is timed).
3. ``services.distiller.cycle.run_cycle`` runs once with phase-0 train as the replay set
   (phase-0 valid is the gate's replay set), and once more from the same release 1 without
   replay (``replay_ratio=0``) for comparison.
4. Release 1 and each candidate are scored on phase-2 and phase-0 test, float and integer.

    python -m benchmarks.distiller_cycle [--student-steps 400] [--steps 400] [--labels 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any


def integer_accuracy(blob: bytes, texts: list[str], truth: list[str]) -> float:
    from services.releases.profile import integer_probs

    probs, labels = integer_probs(blob, texts)
    predicted = [labels[k] for k in probs.argmax(axis=1)]
    return round(sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth), 4)


def run(
    train_per_phase: int = 4000,
    student_steps: int = 400,
    steps: int = 400,
    labels_budget: int = 1000,
    teacher_confidence: float = 0.9,
    threads: int = 1,
    student: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    import torch

    from contract.schemas import LabeledSample, RequestMeta, Window
    from models.data import Example
    from models.data.synth import SynthConfig, synth_examples
    from models.student import StudentConfig
    from models.train import TrainConfig, train_student
    from services.distiller.cycle import CycleConfig, ReplaySet, run_cycle
    from services.distiller.finetune import FinetuneConfig
    from services.distiller.gate import GateConfig
    from services.distiller.samples import MemorySampleStore
    from services.releases.announce import MemoryAnnouncer
    from services.releases.keys import load_or_create_key
    from services.releases.profile import integer_probs
    from services.releases.store import ReleaseStore

    torch.set_num_threads(threads)
    corpus = SynthConfig(seed=seed, train=train_per_phase, valid=500, test=1000)
    data = {
        (p, s): synth_examples(corpus, p, s) for p in (0, 2) for s in ("train", "valid", "test")
    }
    root = Path(tempfile.mkdtemp(prefix="bench-distiller-"))
    key = load_or_create_key(root / "keys")

    # 1. Release 1: a student trained on phase 0.
    started = time.perf_counter()
    config = StudentConfig(num_labels=len(corpus.labels(0)), **(student or {}))
    train_student(
        data[0, "train"], data[0, "valid"], root / "v1",
        tokenizer=config.tokenizer(),
        config=TrainConfig(epochs=100, batch_size=64, patience=100, max_steps=student_steps),
        student=config, labels=list(corpus.labels(0)),
    )  # fmt: skip
    student_seconds = time.perf_counter() - started
    texts0 = [e.text for e in data[0, "valid"]]

    # 2. Phase-2 traffic; release 1's least confident messages + a control sample get labels.
    traffic = data[2, "train"]
    v1_blob = _seeded_blob(ReleaseStore(root / "base"), root / "v1", texts0, key)
    probs, _ = integer_probs(v1_blob, [e.text for e in traffic])
    confidence = probs.max(axis=1)
    order = sorted(range(len(traffic)), key=lambda k: float(confidence[k]))
    chosen = {k: "low_confidence" for k in order[:labels_budget]}
    rest = order[labels_budget:]
    for k in random.Random(seed).sample(rest, min(len(rest), labels_budget // 10)):
        chosen[k] = "random"
    labels2 = list(corpus.labels(2))
    now = time.time()
    samples = []
    for k, strategy in chosen.items():
        gold = traffic[k].label
        other = (1 - teacher_confidence) / (len(labels2) - 1)
        probs_k = {n: teacher_confidence if n == gold else other for n in labels2}
        meta = RequestMeta(
            model_version=1,
            device_id="sim-0000",
            strategy=strategy,  # type: ignore[arg-type]
            score=float(1 - confidence[k]),
            window=Window(start=now - 60, end=now),
        )
        samples.append(
            LabeledSample(
                message_id=f"p2-{k:06d}",
                text=traffic[k].text,
                teacher_probs=probs_k,
                label=gold,
                teacher_id="oracle",
                request=meta,
                labeled_at=now,
            )
        )

    # 3. Cycles from the same release 1: with the replay set, and without it.
    replay = ReplaySet(
        train=[Example(e.text, e.label) for e in data[0, "train"]],
        valid=[Example(e.text, e.label) for e in data[0, "valid"]],
    )
    cycle = CycleConfig(
        finetune=FinetuneConfig(max_steps=steps, batch_size=32, lr=1e-3, seed=seed),
        gate=GateConfig(),
    )
    results: dict[str, Any] = {}
    test = {p: data[p, "test"] for p in (0, 2)}
    # (without replay the gate's replay check is switched off, so the candidate is released and
    #  its forgetting can be measured; "gate" still shows what the check would have seen)
    variants = (
        ("with_replay", 1.0, cycle.gate),
        ("without_replay", 0.0, GateConfig(replay_tolerance=1.0)),
    )
    for name, ratio, gate in variants:
        store = ReleaseStore(root / name)
        _seeded_blob(store, root / "v1", texts0, key)
        sample_store = MemorySampleStore()
        sample_store.add(samples)
        outcome = run_cycle(
            replace(cycle, replay_ratio=ratio, gate=gate), sample_store, store, replay, key,
            MemoryAnnouncer(), trigger="drift",
        )  # fmt: skip
        entry: dict[str, Any] = {
            "outcome": outcome.outcome,
            "reasons": outcome.reasons,
            "cycle_seconds": round(outcome.seconds, 2),
            "gate": {k: round(v, 4) for k, v in outcome.metrics.items()},
        }
        if outcome.version is not None:
            entry["v2"] = _scores(store, outcome.version, test)
        results[name] = entry
    v1 = _scores(ReleaseStore(root / "base"), 1, test)
    return {
        "benchmark": "distiller_cycle",
        "setup": {
            "train_per_phase": train_per_phase,
            "test_per_phase": 1000,
            "student": asdict(config),
            "student_steps": student_steps,
            "student_train_seconds": round(student_seconds, 1),
            "labeled_samples": len(samples),
            "teacher": f"oracle, gold p={teacher_confidence}",
            "cycle_steps": steps,
            "torch_threads": threads,
        },
        "v1": v1,
        **results,
    }


def _seeded_blob(store, student_dir, texts, key) -> bytes:
    from services.distiller.release import seed_release

    seed_release(store, student_dir, texts, key, "stm32f405-tinylstm")
    return store.blob(1)


def _scores(store, version, test) -> dict[str, Any]:
    """Float and integer accuracy of release ``version`` on each phase's test split."""
    from models.student import load_student
    from services.distiller.finetune import accuracy

    student_dir = store.student_dir(version)
    model, labels = load_student(student_dir)
    blob = store.blob(version)
    out = {}
    for phase, examples in test.items():
        texts, truth = [e.text for e in examples], [e.label for e in examples]
        out[f"phase{phase}_test_accuracy"] = round(accuracy(model, labels, texts, truth), 4)
        out[f"phase{phase}_test_accuracy_int8"] = integer_accuracy(blob, texts, truth)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distiller_cycle")
    parser.add_argument("--train", type=int, default=4000, help="train messages per phase")
    parser.add_argument("--student-steps", type=int, default=400, help="release 1's training")
    parser.add_argument("--steps", type=int, default=400, help="fine-tuning steps per cycle")
    parser.add_argument("--labels", type=int, default=1000, help="least-confident messages labeled")
    parser.add_argument("--teacher-confidence", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(
        args.train,
        args.student_steps,
        args.steps,
        args.labels,
        args.teacher_confidence,
        args.threads,
        seed=args.seed,
    )
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
