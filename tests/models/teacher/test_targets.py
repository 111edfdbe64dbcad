"""The teacher as a distillation target source (``models.kd_targets.TargetTeacher``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from models.errors import ConfigError
from models.kd_targets import compute_targets
from models.teacher import Teacher
from models.tokenizer import Tokenizer

TEXTS = ["快件已签收，签收人：本人", "parcel DH2023 delayed at hub"]


def test_targets_align_with_the_student_tokens(teacher_factory: Callable[..., Teacher]) -> None:
    teacher = teacher_factory("e5-small", attentions=True)
    teacher.attach_head(["运输中", "已签收", "异常"])
    samples = teacher.targets(TEXTS)
    assert len(samples) == 2
    for text, sample in zip(TEXTS, samples, strict=True):
        assert sample.logits.shape == (3,)
        assert sample.hidden.shape == (len(sample.offsets), 384)
        assert sample.attention is not None and sample.attention.shape == (len(sample.offsets),)
        assert np.isclose(sample.attention.sum(), 1.0, atol=1e-4)  # mean of distributions
        assert sample.offsets[0] == (0, 0) and sample.offsets[-1] == (0, 0)  # <s>, </s>
        assert max(end for _, end in sample.offsets) == len(text)

    targets = compute_targets(teacher, Tokenizer(), TEXTS)
    assert targets.logits.shape == (2, 3) and targets.has_attention
    assert targets.hidden.shape[1] == teacher.hidden_size
    assert bool(targets.mask.any())  # some student tokens overlap teacher tokens


def test_targets_need_a_head(teacher_factory: Callable[..., Teacher]) -> None:
    with pytest.raises(ConfigError, match="head"):
        teacher_factory("minilm").targets(TEXTS)
