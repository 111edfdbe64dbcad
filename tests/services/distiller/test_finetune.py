"""Fine-tuning from the current release: Learning without Forgetting keeps the candidate's
answers on old traffic closer to the current release's."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from models.errors import ConfigError
from models.student import load_student
from services.distiller.finetune import (
    FinetuneConfig,
    SoftSample,
    extend_labels,
    finetune,
    predict_labels,
)
from tests.services.distiller.factories import examples, tiny_student_dir


def test_lwf_holds_on_to_the_current_release(tmp_path):
    current, labels = load_student(tiny_student_dir(tmp_path))
    wanted = sorted({label for _, label in examples(2, "train")})
    start, grown = extend_labels(copy.deepcopy(current), labels, wanted)
    index = {label: k for k, label in enumerate(grown)}
    new = []
    for text, label in examples(2, "train")[:200]:
        probs = np.full(len(grown), 0.02, dtype=np.float32)
        probs[index[label]] = 1.0 - 0.02 * (len(grown) - 1)
        new.append(SoftSample(text, probs))
    old_texts = [text for text, _ in examples(0, "test")]
    before = predict_labels(current, labels, old_texts)

    def agreement(lwf_weight: float) -> float:
        torch.manual_seed(0)
        config = FinetuneConfig(max_steps=40, lr=5e-3, lwf_weight=lwf_weight)
        model, stats = finetune(copy.deepcopy(start), new, [], config, previous=current)
        assert stats["steps"] == 40
        after = predict_labels(model, grown, old_texts)
        return float(np.mean([a == b for a, b in zip(before, after, strict=True)]))

    assert agreement(5.0) > agreement(0.0)


def test_lwf_weight_must_not_be_negative():
    with pytest.raises(ConfigError, match="lwf_weight"):
        FinetuneConfig(lwf_weight=-1.0)


def test_new_labels_that_would_overflow_the_ota_slot_are_refused_before_training():
    from models.student import StudentConfig, TinyLSTM

    # the default student (2048 rows) with 78 or 79 labels fits the slot; with 90 it would not
    labels = [f"label-{i}" for i in range(78)]
    current = TinyLSTM(StudentConfig(num_labels=78)).eval()
    grown, names = extend_labels(current, labels, [*labels, "label-78"])
    assert names[-1] == "label-78" and grown.config.num_labels == 79
    more = [f"label-{i}" for i in range(90)]
    with pytest.raises(ConfigError, match=r"12 new labels would grow the blob to .* OTA slot"):
        extend_labels(current, labels, more)
