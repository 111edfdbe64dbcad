"""What the demo needs before traffic flows: the synthetic corpus, a trained student, its
integer blob, a fine-tuned teacher, and the release manifest the processor measures drift
against. Each is made by the project's own commands (``fleet data synth``, ``fleet train
student``, ``fleet export``, ``fleet teacher finetune``) run as subprocesses, and cached under
``var/demo/`` so a second run starts at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.demo.config import DemoConfig
from services.errors import ServiceError
from services.releases import profile
from services.releases.profile import TARGET
from services.schemas import ReferenceProfile, ReleaseManifest
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
    """Phases 0..2 of the seed-0 synthetic corpus (deterministic: same options, same bytes)."""
    out = config.var_dir / f"corpus-{config.corpus_train}-{config.corpus_eval}"
    if not (out / "card.json").is_file():
        n, m = str(config.corpus_train), str(config.corpus_eval)
        args = ["data", "synth", "--train", n, "--valid", m, "--test", m, "--out", str(out)]
        fleet(args, logs / "synth.log")
    return out


def student(config: DemoConfig, data: Path, logs: Path) -> tuple[Path, bool]:
    """A stage-1 student trained on phase 0; (its folder, whether it came from the cache)."""
    out = config.var_dir / f"student-{config.corpus_train}-{config.student_steps}"
    done = out / "demo-complete"
    if done.is_file():
        return out, True
    steps_per_epoch = math.ceil(config.corpus_train / 64)
    epochs = math.ceil(config.student_steps / steps_per_epoch)
    args = ["train", "student", "--data", str(data / "phase0"), "--out", str(out),
            "--max-steps", str(config.student_steps), "--epochs", str(epochs),
            "--patience", str(epochs), "--no-progress"]  # fmt: skip
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


def export_blob(student_dir: Path, version: int, out_dir: Path, logs: Path) -> Path:
    """The integer model blob the devices run, stamped with release ``version``."""
    out = out_dir / f"model-v{version}.blob"
    args = ["export", "--format", "blob", "--model", str(student_dir), "--out", str(out),
            "--version", str(version)]  # fmt: skip
    fleet(args, logs / "export.log")
    return out


def teacher(config: DemoConfig, data: Path, logs: Path) -> tuple[str, bool]:
    """The labeller's teacher: ``keyword`` (no weights), a given folder, or e5-small with a
    classification head fine-tuned here for ``teacher_steps`` steps on labelled phase-0 and
    phase-2 messages (an operator labelling a few hundred new messages). Cached."""
    if config.teacher != "e5-small":
        return config.teacher, True
    out = config.var_dir / f"teacher-e5-small-{config.teacher_steps}"
    done = out / "demo-complete"
    if done.is_file():
        return str(out), True
    train = config.var_dir / "teacher-train.jsonl"
    per_phase = config.teacher_steps * 16 // 2
    lines: list[str] = []
    for phase in ("phase0", "phase2"):
        with (data / phase / "train.jsonl").open(encoding="utf-8") as f:
            lines += [line for _, line in zip(range(per_phase), f, strict=False)]
    train.write_text("".join(lines), encoding="utf-8")
    args = ["teacher", "finetune", "--data", str(train), "--out", str(out),
            "--max-steps", str(config.teacher_steps), "--batch-size", "16",
            "--max-length", "64", "--lr", "1e-4", "--head-lr", "1e-2",
            "--checkpoint-every", "20", "--no-progress"]  # fmt: skip
    fleet(args, logs / "finetune-teacher.log")
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # ~600 MB, only needed to resume
    done.touch()
    return str(out), False


def reference_profile(blob: Path, texts: list[str]) -> tuple[ReferenceProfile, list[int]]:
    """What the release predicts on held-out phase-0 messages: class mix and confidence
    histogram, computed with the integer reference (bit-exact with the devices' C engine).
    Also returns the predicted class per text (services/releases/profile.py)."""
    return profile.reference_profile(blob.read_bytes(), texts)


@dataclass(frozen=True)
class Release:
    version: int
    blob: Path
    manifest: ReleaseManifest


def make_release(
    version: int, blob: Path, profile: ReferenceProfile, metrics: dict[str, float]
) -> Release:
    """The manifest the distiller would publish (unsigned: signing lands with the distiller)."""
    data = blob.read_bytes()
    manifest = ReleaseManifest(
        version=version,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        target=TARGET,
        min_firmware="1.0.0",
        created=datetime.fromtimestamp(time.time(), tz=UTC),
        metrics=metrics,
        reference_profile=profile,
    )
    return Release(version, blob, manifest)


def next_version(bootstrap: str, topic: str) -> int:
    """One more than the newest release in the compacted releases topic (1 when empty)."""
    from kafka import KafkaConsumer, TopicPartition

    from services.errors import ValidationError
    from services.schemas import parse_release_manifest

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            return 1
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        newest, deadline = 0, time.monotonic() + 30
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise ServiceError(f"could not read {topic} to its end within 30 s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.value is None:
                        continue
                    try:
                        newest = max(newest, parse_release_manifest(record.value).version)
                    except ValidationError:
                        continue
        return newest + 1
    finally:
        consumer.close()


def publish_release(bootstrap: str, topic: str, release: Release) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=TARGET.encode(), value=release.manifest.to_bytes()).get(30)
    finally:
        producer.close()
