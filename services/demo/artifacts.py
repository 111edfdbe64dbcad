"""What the demo needs before traffic flows: the synthetic corpus, a trained student, a
fine-tuned teacher (made by the project's own commands ``fleet data synth``, ``fleet train
student``, ``fleet teacher finetune`` as subprocesses and cached under ``var/demo/`` so a
second run starts at once), and release 1: the student signed and stored the way ``fleet
distiller seed`` does it, its manifest (with the reference profile the processor measures drift
against) on ``model.releases``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from contract.schemas import ReleaseManifest
from services.demo.config import DemoConfig
from services.errors import ServiceError
from services.releases.profile import TARGET
from services.security.kafka import KafkaAccess
from services.settings import REPO_ROOT


def fleet(args: list[str], log: Path, timeout_s: float = 1800) -> str:
    """Run ``fleet <args>`` (as ``python -m services.cli``); its output goes to ``log``.

    Returns the output; raises ServiceError with the log's tail when it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    with log.open("w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise ServiceError(f"fleet {' '.join(args[:2])} failed ({log}):\n{text[-2000:]}")
    return text


def corpus(config: DemoConfig, logs: Path) -> Path:
    """The seed-0 synthetic corpus (deterministic: same options, same bytes): phases 0..2,
    and phase 3 when the config drifts to it (phases 0-2 are the same bytes with it)."""
    phases = max(3, max(config.phases) + 1)
    out = config.var_dir / (
        f"corpus-{config.corpus_train}-{config.corpus_eval}"
        + ("" if phases == 3 else f"-p{phases}")
    )
    if not (out / "card.json").is_file():
        n, m = str(config.corpus_train), str(config.corpus_eval)
        args = ["data", "synth", "--train", n, "--valid", m, "--test", m,
                "--phases", str(phases), "--out", str(out)]  # fmt: skip
        fleet(args, logs / "synth.log")
    return out


def student(config: DemoConfig, data: Path, logs: Path) -> tuple[Path, bool]:
    """A stage-1 student trained on phase 0, with the entity tagging head (the corpus has the
    gold spans), so its release's blob has a tagging section and the devices send entities;
    (its folder, whether it came from the cache)."""
    from models.student import DEFAULT_BUCKETS, DEFAULT_HASHES

    # The default embedding is in the cache key: a cached student of an earlier default (spec
    # v1's one row per token) is not release 1 of today's demo.
    embedding = f"k{DEFAULT_HASHES}p{DEFAULT_BUCKETS}"
    out = config.var_dir / (
        f"student-{embedding}-{config.corpus_train}-{config.student_steps}-tags"
    )
    done = out / "demo-complete"
    if done.is_file():
        return out, True
    steps_per_epoch = math.ceil(config.corpus_train / 64)
    epochs = math.ceil(config.student_steps / steps_per_epoch)
    args = ["train", "student", "--data", str(data / "phase0"), "--out", str(out),
            "--max-steps", str(config.student_steps), "--epochs", str(epochs),
            "--patience", str(epochs), "--no-progress", "--tags"]  # fmt: skip
    if (out / "checkpoint.pt").is_file():
        args.append("--resume")  # an interrupted earlier run continues
    fleet(args, logs / "train-student.log")
    done.touch()
    return out, False


def student_metrics(student_dir: Path) -> dict[str, float]:
    """Test accuracy and macro-F1 of the float student on phase 0 (from its metrics.json)."""
    metrics = json.loads((student_dir / "metrics.json").read_text())
    test = metrics.get("test", {})
    return {k: float(test[k]) for k in ("accuracy", "macro_f1") if k in test}


def teacher(config: DemoConfig, data: Path, logs: Path) -> tuple[str, bool]:
    """The labeler's teacher: ``keyword`` (no weights), a given folder, or e5-small with a
    classification head fine-tuned here (``fleet teacher finetune``) on the first
    ``teacher_per_phase`` labeled messages of every phase (an operator labeling a few
    thousand messages), at most ``teacher_epochs`` epochs, stopping early when the accuracy
    on the phases' validation messages stops improving. Cached."""
    if config.teacher != "e5-small":
        return config.teacher, True
    out = config.var_dir / f"teacher-e5-small-e{config.teacher_epochs}-{config.teacher_per_phase}"
    done = out / "demo-complete"
    if done.is_file():
        return str(out), True
    train, valid = config.var_dir / "teacher-train.jsonl", config.var_dir / "teacher-valid.jsonl"
    for split, path, n in (("train", train, config.teacher_per_phase), ("valid", valid, 200)):
        lines: list[str] = []
        for phase in sorted(data.glob("phase*")):
            with (phase / f"{split}.jsonl").open(encoding="utf-8") as f:
                lines += [line for _, line in zip(range(n), f, strict=False)]
        path.write_text("".join(lines), encoding="utf-8")
    args = ["teacher", "finetune", "--data", str(train), "--valid", str(valid),
            "--out", str(out), "--epochs", str(config.teacher_epochs), "--patience", "1",
            "--max-length", "64", "--no-progress"]  # fmt: skip
    fleet(args, logs / "finetune-teacher.log", timeout_s=6 * 3600)
    for scratch in ("checkpoints", "best"):  # ~600 MB each, only needed to resume
        shutil.rmtree(out / scratch, ignore_errors=True)
    done.touch()
    return str(out), False


@dataclass(frozen=True)
class Release:
    version: int
    blob: Path  # in the release store: <data_dir>/releases/<version>/model.blob
    manifest: ReleaseManifest  # signed with <data_dir>/keys/release.key


def known_versions(kafka: KafkaAccess, releases_topic: str, rollouts_topic: str) -> int:
    """The newest release version Kafka knows: manifests in ``releases_topic`` and rollout
    records in ``rollouts_topic`` (0 when both are empty)."""
    from contract.errors import ValidationError
    from contract.schemas import parse_release_manifest, parse_rollout_record
    from services.topic_reader import read_to_end

    newest = 0
    for topic, parse in ((releases_topic, parse_release_manifest),
                         (rollouts_topic, parse_rollout_record)):  # fmt: skip
        for record in read_to_end(kafka, topic):
            try:
                newest = max(newest, parse(record.value).version)
            except ValidationError:
                continue
    return newest


def seed_release(
    student_dir: Path,
    profile_texts: list[str],
    releases_root: Path,
    keys_dir: Path,
    kafka: KafkaAccess,  # the distiller's: release 1 is announced as it would announce it
    releases_topic: str,
    newer_than: int,
    metrics: dict[str, float],
) -> Release:
    """Release 1 of the demo, as ``fleet distiller seed`` makes it: the student's integer blob,
    its reference profile on ``profile_texts`` (integer reference, bit-exact with the devices),
    a manifest signed with the release key, stored with the float student in the release store
    (where the distiller continues from and the rollout manager serves chunks), then published
    to ``model.releases``.

    Built from the distiller's own functions rather than ``seed_release`` because the version
    must also be newer than ``newer_than`` (what Kafka's compacted topics remember of earlier
    runs): the rollout manager refuses a release older than one it has a record of."""
    from models.student import load_student
    from services.distiller.release import build_manifest, export_blob, store_release
    from services.releases.announce import KafkaAnnouncer
    from services.releases.keys import load_or_create_key
    from services.releases.store import ReleaseStore

    store = ReleaseStore(releases_root)
    version = max(store.latest() or 0, newer_than) + 1
    model, labels = load_student(student_dir)
    blob = export_blob(model, labels, version)
    key = load_or_create_key(keys_dir)
    manifest = build_manifest(version, blob, profile_texts, metrics, key, TARGET, "1.0.0")
    path = store_release(store, manifest, blob, model, labels)
    KafkaAnnouncer(kafka, releases_topic).publish(manifest)
    return Release(version, path / "model.blob", manifest)
