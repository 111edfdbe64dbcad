"""Factories for the distiller tests: a tiny student trained on synthetic phase 0 and stored
as signed release 1, teacher-labeled phase-2 samples, and a replay file."""

from __future__ import annotations

import functools
import json
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from contract.schemas import LabeledSample, RequestMeta, Window
from models.data.synth import SynthConfig, synth_examples
from models.student import SPEC_V1, StudentConfig
from models.tokenizer import Tokenizer
from models.train import TrainConfig, train_student
from services.distiller.release import seed_release
from services.releases.keys import load_or_create_key
from services.releases.store import ReleaseStore

CORPUS = SynthConfig(seed=0, train=400, valid=100, test=200, phases=3)
TINY = dict(vocab_size=512, embed_dim=16, hidden=24, max_len=32, dropout=0.0)


@functools.lru_cache(maxsize=4)
def examples(phase: int, split: str) -> tuple[tuple[str, str], ...]:
    return tuple((e.text, e.label) for e in synth_examples(CORPUS, phase, split))


@functools.lru_cache(maxsize=2)
def _trained_student(cache: Path, spec_v1: bool = False) -> Path:
    torch.set_num_threads(1)
    train = [_Ex(t, y) for t, y in examples(0, "train")]
    valid = [_Ex(t, y) for t, y in examples(0, "valid")]
    labels = sorted({ex.label for ex in train})
    shape = {**TINY, **(SPEC_V1 if spec_v1 else {})}
    train_student(
        train,
        valid,
        cache,
        tokenizer=Tokenizer(max_len=TINY["max_len"]),
        config=TrainConfig(epochs=4, batch_size=32, lr=1e-2, patience=4, max_steps=50),
        student=StudentConfig(num_labels=len(labels), **shape),  # type: ignore[arg-type]
        labels=labels,
    )
    return cache


class _Ex:
    def __init__(self, text: str, label: str) -> None:
        self.text, self.label = text, label


def tiny_student_dir(tmp_root: Path, spec_v1: bool = False) -> Path:
    """A trained tiny student (trained once per process, copied into ``tmp_root``): the
    default embedding, or spec v1's one row per token."""
    src = _trained_student(_cache_dir() / ("v1" if spec_v1 else "default"), spec_v1)
    out = tmp_root / "student"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("checkpoint.pt"))
    return out


@functools.lru_cache(maxsize=1)
def _cache_dir() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="distiller-tiny-student-"))


def seeded_store(tmp_root: Path, spec_v1: bool = False) -> tuple[ReleaseStore, object]:
    """A release store holding signed release 1 (the tiny student) and the signing key."""
    store = ReleaseStore(tmp_root / "releases")
    key = load_or_create_key(tmp_root / "keys")
    texts = [t for t, _ in examples(0, "valid")]
    student = tiny_student_dir(tmp_root, spec_v1)
    seed_release(store, student, texts, key, "stm32f405-tinylstm")
    return store, key


def labeled(
    pairs: Sequence[tuple[str, str]],
    labels: Sequence[str],
    *,
    noise: bool = False,
    seed: int = 0,
    prefix: str = "m",
    confidence: float = 0.85,
    version: int = 1,
) -> list[LabeledSample]:
    """Teacher-labeled samples of release ``version``'s traffic: the gold label gets
    ``confidence`` (or, with ``noise``, a random label does), the rest is spread evenly."""
    rng = random.Random(seed)
    now = time.time()
    meta = RequestMeta(
        model_version=version,
        device_id="dev-0001",
        strategy="low_confidence",
        score=0.5,
        window=Window(start=now - 60, end=now),
    )
    out = []
    for i, (text, gold) in enumerate(pairs):
        top = rng.choice(list(labels)) if noise else gold
        rest = (1.0 - confidence) / (len(labels) - 1)
        probs = {label: (confidence if label == top else rest) for label in labels}
        out.append(
            LabeledSample(
                message_id=f"{prefix}-{i:05d}",
                text=text,
                teacher_probs=probs,
                label=top,
                teacher_id="test-teacher",
                request=meta,
                labeled_at=now,
            )
        )
    return out


def write_replay(path: Path, pairs: Sequence[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for text, label in pairs:
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    return path
