"""The rounds of the loop, each made of the project's own parts:

1. The devices classify a round of the phase's traffic with the current release's blob, on
   the firmware's C engine (``libtinylstm.so``; or the bit-exact integer reference).
2. The processor's aggregator (``services.processor.aggregator``, on dict tables, as in its
   tests) windows the predictions per device and release and spends each window's label
   budget with the configured strategy; its drift report of each window is kept.
3. The teacher labels what was requested (``LabeledSample``s as the labeler writes them).
4. ``services.distiller.cycle.run_cycle`` fine-tunes the current release on them with its
   replay memory and replay set, gates, exports, signs and stores the next release.
5. The newest release is scored on every phase's test set, float and int8 (the forgetting
   matrix), and the sample store's size is recorded (is the memory bounded?).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.continual_rounds.scenarios import Scenario
from benchmarks.continual_rounds.teachers import BenchTeacher


@dataclass(frozen=True)
class Variant:
    """One configuration of the loop: how labels are chosen and how forgetting is fought."""

    name: str
    sampling: str = "least_confidence"  # the processor's strategy
    random_share: float = 0.0  # of the budget on a uniform control sample
    budget: float = 0.02  # labels per window as a share of its predictions
    replay: str = "memory"  # memory | none | lwf | memory+lwf
    memory_policy: str = "class_balanced"
    memory_size: int = 2000
    lwf_weight: float = 1.0


@dataclass(frozen=True)
class Loop:
    """What every variant shares."""

    rounds_per_phase: int = 2
    traffic_per_round: int = 4000
    window: int = 500  # predictions per processor window (50 devices x 10)
    devices: int = 50
    per_device_cap: int = 5
    low_confidence: float = 0.6
    steps: int = 300  # fine-tuning steps per cycle
    lr: float = 1e-3
    replay_ratio: float = 1.0
    min_new_samples: int = 50  # the distiller's drift_min_new_samples
    engine: str = "c"  # c | reference
    seed: int = 0

    def __post_init__(self) -> None:
        if self.traffic_per_round % self.window:
            # a partial window would get a whole window's label budget
            raise ValueError(
                f"traffic per round ({self.traffic_per_round}) must be a multiple of the "
                f"window ({self.window} predictions)"
            )


class Engine:
    """The device engine running one release: top-k probabilities and labels per text."""

    def __init__(self, blob: bytes, version: int, kind: str) -> None:
        self.kind, self.blob = kind, blob
        if kind == "c":
            from edge_agent.clib import CDevice

            self.device = CDevice()
            self.device.provision(blob, version)

    def classify(self, texts: Sequence[str], k: int = 3) -> list[tuple[tuple[str, float], ...]]:
        if self.kind == "c":
            return [self.device.classify(t, k).topk for t in texts]
        from services.releases.profile import integer_probs

        probs, labels = integer_probs(self.blob, texts)
        out = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[:k]
            out.append(tuple((labels[i], float(np.floor(row[i] * 1e6) / 1e6)) for i in order))
        return out

    def accuracy(self, texts: Sequence[str], truth: Sequence[str]) -> float:
        predicted = [topk[0][0] for topk in self.classify(texts, 1)]
        return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def processor_requests(
    topk: list[tuple[tuple[str, float], ...]],
    texts: Sequence[str],
    version: int,
    loop: Loop,
    variant: Variant,
    round_id: int,
) -> tuple[list[Any], list[dict[str, float]]]:
    """Run the round's predictions through the processor's aggregator; (label requests,
    per-window drift values)."""
    from contract.schemas import LabelProb, PredictionEvent
    from services.processor.aggregator import Aggregator
    from services.processor.metrics import ProcessorMetrics
    from services.processor.releases import ReferenceStore
    from services.processor.settings import ProcessorSettings

    settings = ProcessorSettings(
        window_s=60.0, grace_s=0.0, metrics_port=0, strategy=variant.sampling,  # type: ignore[arg-type]
        random_share=variant.random_share, budget_per_window=round(variant.budget * loop.window),
        per_device_cap=loop.per_device_cap, low_confidence=loop.low_confidence,
    )  # fmt: skip
    references = ReferenceStore()
    aggregator = Aggregator(settings, ProcessorMetrics.create(), references, {}, {}, {}, {})
    t0 = 1.7e9 + round_id * 10_000.0
    for i, (text, top) in enumerate(zip(texts, topk, strict=True)):
        device = f"sim-{i % loop.devices:04d}"
        event = PredictionEvent(
            device_id=device, seq=i, message_id=f"r{round_id}-{device}-{i}", text=text,
            label=top[0][0], confidence=top[0][1],
            topk=[LabelProb(label=label, prob=p) for label, p in top],
            model_version=version, latency_us=3000, ts=t0 + i,
        )  # fmt: skip
        ts = t0 + (i // loop.window) * settings.window_s + 1.0
        aggregator.on_prediction(event, ts=ts, partition=0, offset=i)
    closed = aggregator.on_tick(0, now=t0 + 1e6)
    requests = [r for window in closed for r in window.requests]
    return requests, []


def label(requests: list[Any], teacher: BenchTeacher) -> list[Any]:
    """The teacher's ``LabeledSample`` for each request, as the labeler writes them."""
    from contract.schemas import LabeledSample

    if not requests:
        return []
    probs = teacher.probs([r.text for r in requests])
    out = []
    for request, row in zip(requests, probs, strict=True):
        p = {name: float(v) for name, v in zip(teacher.labels, row, strict=True)}
        total = sum(p.values())
        p = {name: v / total for name, v in p.items()}
        out.append(LabeledSample(
            message_id=request.message_id, text=request.text, teacher_probs=p,
            label=max(p, key=p.__getitem__), teacher_id=teacher.teacher_id[:128],
            request=request.meta(), labeled_at=request.window.end,
        ))  # fmt: skip
    return out


# A test-sized student (a few KB; the default is the deployable one)
TINY_STUDENT: dict[str, Any] = dict(vocab_size=512, embed_dim=16, hidden=24, max_len=32)


def train_first_release(
    scenario: Scenario, out: Path, steps: int, seed: int, student: dict[str, Any] | None = None
) -> Path:
    """Release 1's student (``models.student.StudentConfig`` defaults, or ``student``'s
    overrides): stage 1 on the scenario's phase-0 labeled messages (cached). The default student
    gets as many embedding rows as leave room in the OTA slot for every label the scenario will
    bring (``models.footprint``): later cycles add head rows, and the table cannot shrink under
    a trained model."""
    from models.footprint import fit_to_slot
    from models.student import StudentConfig
    from models.tokenizer import Tokenizer
    from models.train import TrainConfig, train_student

    if (out / "model.safetensors").is_file():
        return out
    labels = sorted({e.label for e in scenario.initial_train})
    config = StudentConfig(num_labels=len(labels), **(student or {}))
    if student is None:
        every = list(dict.fromkeys([*labels, *(x for p in scenario.phases for x in p.labels)]))
        room = fit_to_slot(StudentConfig(num_labels=len(every)), every)
        config = replace(config, vocab_size=room.vocab_size)
    train_student(
        scenario.initial_train, scenario.initial_valid, out,
        tokenizer=Tokenizer(max_len=config.max_len),
        config=TrainConfig(epochs=100, batch_size=64, patience=100, max_steps=steps, seed=seed),
        student=config, labels=labels, progress=False,
    )  # fmt: skip
    return out


def run_variant(
    scenario: Scenario,
    teacher: BenchTeacher,
    variant: Variant,
    loop: Loop,
    first_release: Path,
    work: Path,
) -> dict[str, Any]:
    """All rounds of ``variant`` from release 1; the per-round records."""
    from models.data import Example
    from models.student import load_student
    from services.distiller.cycle import CycleConfig, ReplaySet, run_cycle
    from services.distiller.finetune import FinetuneConfig, accuracy
    from services.distiller.gate import GateConfig
    from services.distiller.release import seed_release
    from services.distiller.samples import MemorySampleStore
    from services.releases.announce import MemoryAnnouncer
    from services.releases.keys import load_or_create_key
    from services.releases.store import ReleaseStore

    shutil.rmtree(work, ignore_errors=True)  # an interrupted run's releases: start again
    store = ReleaseStore(work / "releases")
    key = load_or_create_key(work / "keys")
    profile = [e.text for e in scenario.initial_valid[:500]]
    if store.latest() is None:
        seed_release(store, first_release, profile, key, "stm32f405-tinylstm")
    memory = variant.replay in ("memory", "memory+lwf")
    replay = (
        ReplaySet(
            train=[Example(e.text, e.label) for e in scenario.initial_train],
            valid=[Example(e.text, e.label) for e in scenario.initial_valid[:1000]],
        )
        if memory
        else None
    )
    lwf = variant.lwf_weight if variant.replay in ("lwf", "memory+lwf") else 0.0
    config = CycleConfig(
        finetune=FinetuneConfig(max_steps=loop.steps, lr=loop.lr, lwf_weight=lwf, seed=loop.seed),
        # (without replay the gate cannot check forgetting: nothing to check it on)
        gate=GateConfig() if memory else GateConfig(replay_tolerance=1.0, memory_tolerance=1.0),
        replay_ratio=loop.replay_ratio if memory else 0.0,
        memory_size=variant.memory_size if memory else 0,
        memory_policy=variant.memory_policy,
    )
    samples = MemorySampleStore()
    tests = [
        (p.index, [e.text for e in p.test], [e.label for e in p.test]) for p in scenario.phases
    ]

    def scores(version: int) -> dict[str, Any]:
        model, labels = load_student(store.student_dir(version))  # type: ignore[arg-type]
        engine = Engine(store.blob(version), version, loop.engine)
        out: dict[str, Any] = {"float": {}, "int8": {}}
        for phase, texts, truth in tests:
            out["float"][phase] = round(accuracy(model, labels, texts, truth), 4)
            out["int8"][phase] = round(engine.accuracy(texts, truth), 4)
        return out

    records: list[dict[str, Any]] = [{"round": 0, "phase": 0, "version": 1, **scores(1)}]
    round_id = 0
    for phase in scenario.phases[1:]:
        for r in range(loop.rounds_per_phase):
            round_id += 1
            start = r * loop.traffic_per_round
            traffic = _slice(phase.traffic, start, loop.traffic_per_round)
            version = store.latest() or 1
            texts = [e.text for e in traffic]
            engine = Engine(store.blob(version), version, loop.engine)
            started = time.perf_counter()
            topk = engine.classify(texts)
            device_s = time.perf_counter() - started
            requests, _ = processor_requests(topk, texts, version, loop, variant, round_id)
            labeled = label(requests, teacher)
            samples.add(labeled)
            low = float(np.mean([t[0][1] < loop.low_confidence for t in topk]))
            hits = [t[0][0] == e.label for t, e in zip(topk, traffic, strict=True)]
            record: dict[str, Any] = {
                "round": round_id, "phase": phase.index, "round_in_phase": r + 1,
                "traffic": len(traffic), "labels": len(labeled),
                "label_share": round(len(labeled) / len(traffic), 4),
                "labels_by_strategy": _count(s.request.strategy for s in labeled),
                "teacher_agrees_with_gold": _teacher_gold(labeled, traffic),
                "traffic_low_confidence": round(low, 4),
                "traffic_int8_accuracy": round(float(np.mean(hits)), 4),
                "device_seconds": round(device_s, 2),
            }  # fmt: skip
            # 4. the distiller's drift trigger needs drift_min_new_samples new labels: with
            #    fewer the service waits (the labels count in the next round)
            if samples.new_count() < loop.min_new_samples:
                waiting = f"{samples.new_count()} new labels (< {loop.min_new_samples})"
                record.update(outcome="waiting", reasons=[waiting], cycle_seconds=0.0, gate={})
            else:
                result = run_cycle(
                    config, samples, store, replay, key, MemoryAnnouncer(), trigger="drift",
                    traffic=lambda texts=texts: texts[-300:],  # (the profile: not measured here)
                )  # fmt: skip
                record.update(
                    outcome=result.outcome, reasons=result.reasons,
                    cycle_seconds=round(result.seconds, 2),
                    gate={k: round(v, 4) for k, v in result.metrics.items()},
                )  # fmt: skip
            latest = store.latest() or 1
            record.update(
                version=latest, store_samples=samples.count(), store_memory=len(samples.memory())
            )
            records.append({**record, **scores(latest)})
    return {"variant": variant.__dict__, "rounds": records}


def _slice(pool: list[Any], start: int, n: int) -> list[Any]:
    """``n`` items of ``pool`` from ``start``, wrapping around."""
    return [pool[(start + i) % len(pool)] for i in range(n)]


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _teacher_gold(labeled: list[Any], traffic: list[Any]) -> float | None:
    gold = {e.text: e.label for e in traffic}
    hits = [s.label == gold[s.text] for s in labeled if s.text in gold]
    return round(float(np.mean(hits)), 4) if hits else None
