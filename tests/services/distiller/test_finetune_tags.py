"""A tagging student fine-tuned by the distiller keeps its entity tagger (emission
self-distillation), and a student without one fine-tunes as before."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from models.data.synth import SynthConfig, synth_examples
from models.student import StudentConfig
from models.tagging import NUM_TAGS, predict_tags
from models.tokenizer import Tokenizer
from models.train import TrainConfig, train_student
from services.distiller.finetune import FinetuneConfig, HardSample, SoftSample, finetune


@pytest.fixture(scope="module")
def tagging_student(tmp_path_factory):
    torch.set_num_threads(1)
    config = SynthConfig(seed=6, train=300, valid=60, test=60, phases=3)
    train, valid = synth_examples(config, 0, "train"), synth_examples(config, 0, "valid")
    labels = sorted({e.label for e in train} | {e.label for e in valid})
    student = StudentConfig(num_labels=len(labels), vocab_size=512, embed_dim=16, hidden=24,
                            num_tags=NUM_TAGS, dropout=0.0)  # fmt: skip
    train_config = TrainConfig(epochs=4, patience=4, batch_size=32, lr=5e-3)
    result = train_student(train, valid, tmp_path_factory.mktemp("s"), tokenizer=Tokenizer(),
                           labels=labels, student=student, config=train_config)  # fmt: skip
    phase2 = synth_examples(config, 2, "train")[:120]
    return result.model, labels, phase2, train


def agreement(a, b) -> float:
    pairs = [(x, y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)]
    return float(np.mean([x == y for x, y in pairs]))


def test_the_tagger_survives_a_retrain(tagging_student):
    model, labels, phase2, replay = tagging_student
    rng = np.random.default_rng(0)
    new = [SoftSample(e.text, rng.dirichlet(np.ones(len(labels)))) for e in phase2]
    old = [HardSample(e.text, labels.index(e.label)) for e in replay[:120]]
    ids = [Tokenizer().encode(e.text) for e in phase2]
    before = predict_tags(model, ids)
    kept, _ = finetune(copy.deepcopy(model), new, old, FinetuneConfig(max_steps=40, lr=5e-3))
    dropped, _ = finetune(copy.deepcopy(model), new, old,
                          FinetuneConfig(max_steps=40, lr=5e-3, tag_weight=0.0))  # fmt: skip
    with_kd, without = (
        agreement(before, predict_tags(kept, ids)),
        agreement(before, predict_tags(dropped, ids)),
    )
    assert with_kd >= 0.9 and with_kd > without, (with_kd, without)
    assert kept.config.num_tags == NUM_TAGS
