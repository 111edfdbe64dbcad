"""One retrain cycle, top to bottom: current release -> fine-tuned candidate -> gate ->
integer blob + reference profile + signed manifest -> release store -> ``model.releases``.

Everything the cycle touches comes in as an argument (sample store, release store, replay set,
signing key, publisher), so tests run it on in-memory doubles and the service on the real ones.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.schemas import LabeledSample
from models.data.loaders import read_jsonl
from models.data.record import Example
from models.errors import ModelsError
from services.distiller.finetune import (
    FinetuneConfig,
    HardSample,
    SoftSample,
    accuracy,
    extend_labels,
    finetune,
)
from services.distiller.gate import GateConfig, GateScores, decide
from services.distiller.memory import select_memory
from services.distiller.release import (
    CurrentReleaseError,
    build_manifest,
    export_blob,
    load_current,
    store_release,
)
from services.distiller.samples import SampleStore
from services.distiller.settings import DistillerSettings
from services.errors import ServiceError
from services.releases.announce import AnnounceError, ReleaseAnnouncer
from services.releases.keys import public_bytes
from services.releases.profile import integer_probs
from services.releases.store import ReleaseStore, ReleaseStoreError

log = logging.getLogger(__name__)

Outcome = Literal["published", "rejected_by_gate"]


class CycleError(ServiceError):
    """A cycle could not run to a decision (no data, no usable current release, a model error).
    ``stored_version`` is set when the release was stored but its manifest not acknowledged."""

    def __init__(self, message: str, stored_version: int | None = None) -> None:
        super().__init__(message)
        self.stored_version = stored_version


@dataclass(frozen=True)
class CycleConfig:
    finetune: FinetuneConfig  # steps, batch, optimiser, KD alpha and temperature
    gate: GateConfig  # tolerances
    max_samples: int = 5000  # newest new samples used (stored since the last cycle)
    holdout_share: float = 0.2  # of the samples, chosen by message id hash, for the gate
    replay_ratio: float = 1.0  # replay rows (memory + replay set) per new training row
    memory_size: int = 2000  # teacher-labeled samples kept for later cycles (0: none)
    memory_policy: str = "class_balanced"  # services.distiller.memory.POLICIES
    target: str = "stm32f405-tinylstm"
    min_firmware: str = "1.0.0"

    @classmethod
    def from_settings(cls, s: DistillerSettings) -> CycleConfig:
        return cls(
            finetune=FinetuneConfig(
                max_steps=s.max_steps, batch_size=s.batch_size, lr=s.lr,
                weight_decay=s.weight_decay, alpha=s.alpha, temperature=s.temperature,
                lwf_weight=s.lwf_weight, seed=s.seed,
            ),
            gate=GateConfig(
                min_gain=s.gate_min_gain, replay_tolerance=s.gate_replay_tolerance,
                replay_z=s.gate_replay_z,
                max_int8_drop=s.gate_max_int8_drop, min_holdout=s.gate_min_holdout,
                memory_tolerance=s.gate_memory_tolerance, memory_z=s.gate_memory_z,
            ),
            max_samples=s.max_samples, holdout_share=s.holdout_share,
            replay_ratio=s.replay_ratio, memory_size=s.memory_size,
            memory_policy=s.memory_policy, target=s.target, min_firmware=s.min_firmware,
        )  # fmt: skip


@dataclass(frozen=True)
class ReplaySet:
    """Gold-labeled messages of the distribution the fleet was trained on."""

    train: list[Example]  # sampled into every fine-tuning run
    valid: list[Example]  # the gate's "did it forget?" set

    @classmethod
    def load(
        cls, path: Path, valid_path: Path | None, valid_share: float, valid_max: int
    ) -> ReplaySet:
        """``path`` (jsonl text/label); the gate set is ``valid_path`` or, without one, the
        texts of ``path`` whose hash falls in ``valid_share``."""
        try:
            rows = [Example(e.text, e.label) for e in read_jsonl(path)]
            if valid_path is not None:
                valid = [Example(e.text, e.label) for e in read_jsonl(valid_path)]
                train = rows
            else:
                valid = [r for r in rows if _bucket(r.text) < valid_share]
                train = [r for r in rows if _bucket(r.text) >= valid_share]
        except (ModelsError, OSError) as exc:
            raise CycleError(f"cannot read the replay set: {exc}") from exc
        return cls(train=train, valid=valid[:valid_max])


@dataclass
class CycleResult:
    outcome: Outcome
    trigger: str
    parent_version: int  # the release the candidate started from
    version: int | None  # the published release (None when rejected)
    reasons: list[str]  # why the gate rejected (empty when published)
    metrics: dict[str, float]  # gate scores and training statistics
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "trigger": self.trigger,
                "parent_version": self.parent_version, "version": self.version,
                "reasons": self.reasons, "metrics": self.metrics,
                "seconds": round(self.seconds, 3), **self.extra}  # fmt: skip


def _bucket(key: str) -> float:
    """A stable number in [0, 1) for ``key`` (the same on every run and machine)."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def is_holdout(sample: LabeledSample, share: float) -> bool:
    """Held out from training by message id, so a sample is in the gate set in every cycle."""
    return _bucket(sample.message_id) < share


def soft_targets(samples: Sequence[LabeledSample], labels: Sequence[str]) -> list[SoftSample]:
    """Teacher probabilities in the student's label order (renormalised over ``labels``)."""
    out = []
    for s in samples:
        p = np.array([s.teacher_probs.get(label, 0.0) for label in labels], dtype=np.float64)
        total = p.sum()
        if total <= 0:
            raise CycleError(f"sample {s.message_id}: no teacher probability on student labels")
        out.append(SoftSample(s.text, (p / total).astype(np.float32)))
    return out


def replay_split(total: int, memory: int, replay_set: int) -> tuple[int, int]:
    """How many of ``total`` replay rows come from the memory and from the replay set: half
    each, a source with fewer rows leaving the rest to the other."""
    n_memory = min(memory, -(-total // 2) if replay_set else total)
    n_replay = min(replay_set, total - n_memory)
    return min(memory, total - n_replay), n_replay


def _update_memory(
    config: CycleConfig,
    samples: SampleStore,
    high_water: int,
    seen: list[LabeledSample],
    metrics: dict[str, float],
) -> None:
    """The cycle is done: its samples (``seen``, oldest first) become memory, cut down to the
    memory's size."""
    kept = select_memory(seen, config.memory_size, config.memory_policy)
    samples.mark_trained(high_water)
    forgotten = samples.retain(high_water, {s.message_id for s in kept})
    metrics["memory_kept"] = float(len(kept))
    metrics["memory_forgotten"] = float(forgotten)


def run_cycle(
    config: CycleConfig,
    samples: SampleStore,
    releases: ReleaseStore,
    replay: ReplaySet | None,
    key: Ed25519PrivateKey,
    publisher: ReleaseAnnouncer,
    *,
    trigger: str = "ops",
    max_steps: int | None = None,
    traffic: Callable[[], list[str]] | None = None,
) -> CycleResult:
    """Run one cycle; returns the gate's decision, raises :class:`CycleError` on failure."""
    started, started_at = time.perf_counter(), time.time()
    high_water = samples.high_water()
    arrived = samples.new_samples(config.max_samples)
    kept = samples.memory()
    if not arrived:
        raise CycleError(f"no new labeled samples since the last cycle ({len(kept)} in memory)")

    # 1. The current release: its float student, refused when the store entry is corrupt.
    try:
        current = load_current(releases, public_bytes(key))
    except CurrentReleaseError as exc:
        raise CycleError(str(exc)) from exc

    #    What the cycle learns from: the new samples and every kept sample of the current
    #    release's own traffic (an earlier cycle that was rejected may have seen some), the
    #    rest of the memory is earlier traffic to replay. Each is split into training and
    #    held-out samples by message id. (Ordered by message id: the same samples train the
    #    same candidate, whatever order the partitions delivered them in.)
    fresh = {s.message_id for s in arrived}
    ours = [s for s in kept if s.request.model_version == current.version]
    new = sorted([*arrived, *(s for s in ours if s.message_id not in fresh)],
                 key=lambda s: s.message_id)  # fmt: skip
    current_ids = {s.message_id for s in new}
    memory = sorted(
        (s for s in kept if s.message_id not in current_ids), key=lambda s: s.message_id
    )
    train = [s for s in new if not is_holdout(s, config.holdout_share)]
    holdout = [s for s in new if is_holdout(s, config.holdout_share)]
    old_train = [s for s in memory if not is_holdout(s, config.holdout_share)]
    old_holdout = [s for s in memory if is_holdout(s, config.holdout_share)]
    if not train:
        raise CycleError(f"all {len(new)} new samples are held out; nothing to train on")
    log.info(
        "cycle (%s): release %d, %d new samples (%d since the last cycle), %d earlier in memory",
        trigger, current.version, len(new), len(arrived), len(memory),
    )  # fmt: skip

    # 2. Fine-tune a copy on the teacher's soft labels of the new samples, mixed with replay
    #    rows (memory samples with their teacher labels, replay-set rows with their gold
    #    labels). Labels the teacher (or the replay set) has and the student lacks get new
    #    head rows first.
    teacher_labels = list(dict.fromkeys(k for s in [*new, *memory] for k in s.teacher_probs))
    replay_labels = list(dict.fromkeys(r.label for r in replay.train)) if replay else []
    try:
        model, labels = extend_labels(
            copy.deepcopy(current.model),
            current.labels,
            [*teacher_labels, *replay_labels],
            seed=config.finetune.seed,
        )
        index = {label: k for k, label in enumerate(labels)}
        rng = random.Random(config.finetune.seed)
        n_memory, n_replay = replay_split(
            round(config.replay_ratio * len(train)), len(old_train),
            len(replay.train) if replay else 0,
        )  # fmt: skip
        memory_rows = rng.sample(old_train, n_memory)
        replay_rows = rng.sample(replay.train, n_replay) if replay else []
        hard = [HardSample(r.text, index[r.label]) for r in replay_rows]
        ft = config.finetune
        if max_steps is not None:
            ft = replace(ft, max_steps=max_steps)
        soft = soft_targets([*train, *memory_rows], labels)
        model, stats = finetune(model, soft, hard, ft, previous=current.model)
    except ModelsError as exc:
        raise CycleError(f"fine-tuning failed: {exc}") from exc

    # 3. Gate (float): held-out new samples against the teacher's label, and the replay
    #    validation set against its gold label; the candidate must win on the first and may
    #    lose at most the tolerance on the second.
    texts, truth = [s.text for s in holdout], [s.label for s in holdout]
    scores = GateScores(
        holdout=len(holdout),
        old_new=accuracy(current.model, current.labels, texts, truth) if texts else 0.0,
        cand_new=accuracy(model, labels, texts, truth) if texts else 0.0,
    )
    if replay is not None and replay.valid:
        r_texts, r_truth = [r.text for r in replay.valid], [r.label for r in replay.valid]
        scores = replace(
            scores,
            old_replay=accuracy(current.model, current.labels, r_texts, r_truth),
            cand_replay=accuracy(model, labels, r_texts, r_truth),
            replay=len(r_texts),
        )
    if old_holdout:  # earlier traffic, held out of every cycle: did the candidate forget it?
        m_texts, m_truth = [s.text for s in old_holdout], [s.label for s in old_holdout]
        scores = replace(
            scores,
            memory=len(old_holdout),
            old_memory=accuracy(current.model, current.labels, m_texts, m_truth),
            cand_memory=accuracy(model, labels, m_texts, m_truth),
        )
    # (newer than anything stored, e.g. a roll-forward the rollout manager wrote meanwhile)
    version = max(current.version, releases.latest() or 0) + 1
    metrics = {
        **scores.metrics(),
        "parent_version": float(current.version),
        "cycle_started_at": started_at,  # Unix time the trigger fired
        "train_new": float(len(train)),
        "samples_since_last_cycle": float(len(arrived)),
        "train_memory": float(len(memory_rows)),
        "train_replay": float(len(hard)),
        **{f"train_{k}": v for k, v in stats.items()},
    }
    decision = decide(config.gate, scores)

    # 4. Quantise to the integer blob stamped with the next version, score the integer model on
    #    the held-out samples (what the devices will compute), and decide again with it.
    blob = b""
    if decision.passed:
        try:
            blob = export_blob(model, labels, version)
            probs, int_labels = integer_probs(blob, texts)
        except ModelsError as exc:
            raise CycleError(f"quantisation failed: {exc}") from exc
        predicted = [int_labels[k] for k in probs.argmax(axis=1)]
        int8 = float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))
        scores = replace(scores, cand_int8_new=int8)
        metrics.update(scores.metrics())
        decision = decide(config.gate, scores)
    seconds = time.perf_counter() - started
    if not decision.passed:
        _update_memory(config, samples, high_water, [*kept, *arrived], metrics)
        log.info("cycle (%s): candidate rejected: %s", trigger, "; ".join(decision.reasons))
        return CycleResult("rejected_by_gate", trigger, current.version, None,
                           decision.reasons, metrics, seconds)  # fmt: skip

    #    The reference profile: the devices' current traffic (``traffic``: the newest
    #    predictions) when enough can be read; else held-out samples drawn at random by the
    #    processor; else all held out (low-confidence ones over-represent hard messages).
    uniform = [s.text for s in holdout if s.request.strategy == "random"]
    profile_texts = uniform if len(uniform) >= config.gate.min_holdout else texts
    recent: list[str] = []
    if traffic is not None:
        try:
            recent = traffic()
        except ServiceError as exc:
            log.warning("reference profile from held-out samples: %s", exc)
    if len(recent) >= config.gate.min_holdout:
        profile_texts = recent
    metrics["profile_texts"] = float(len(profile_texts))
    metrics["profile_from_traffic"] = float(profile_texts is recent)
    try:
        manifest = build_manifest(
            version, blob, profile_texts, metrics, key, config.target, config.min_firmware
        )
    except (ServiceError, ValueError) as exc:
        raise CycleError(f"cannot build the manifest of release {version}: {exc}") from exc

    # 5. The bytes first (the next hop has the data), then the announcement, acknowledged.
    try:
        store_release(releases, manifest, blob, model, labels)
    except ReleaseStoreError as exc:
        raise CycleError(f"cannot store release {version}: {exc}") from exc
    try:
        publisher.publish(manifest)
    except AnnounceError as exc:
        raise CycleError(f"release {version} stored, not published: {exc}", version) from exc
    _update_memory(config, samples, high_water, [*kept, *arrived], metrics)
    seconds = time.perf_counter() - started
    log.info("cycle (%s): published release %d in %.1f s", trigger, version, seconds)
    return CycleResult("published", trigger, current.version, version, [], metrics, seconds)
