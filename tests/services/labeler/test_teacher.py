"""The Labeler interface: the keyword double and the adapter to a transformer teacher."""

from __future__ import annotations

import math

import pytest

from contract.schemas.examples import LABELS
from models.errors import ConfigError
from services.labeler.teacher import (
    LOGISTICS_KEYWORDS,
    KeywordLabeler,
    LabelerError,
    TeacherLabeler,
)


def test_keyword_labeler_is_deterministic_and_normalised():
    labeler = KeywordLabeler(LABELS, LOGISTICS_KEYWORDS, confidence=0.7)
    first = labeler.label(["上海仓库存预警通知", "您的包裹已由前台代收", "随便一句话"])
    assert [t.label for t in first[:2]] == ["紧急", "已签收"]
    assert first == labeler.label(["上海仓库存预警通知", "您的包裹已由前台代收", "随便一句话"])
    for t in first:
        assert math.isclose(sum(t.probs.values()), 1.0)
        assert t.probs[t.label] == pytest.approx(0.7)


def test_keyword_labeler_rejects_bad_arguments():
    with pytest.raises(ConfigError):
        KeywordLabeler(["only"])
    with pytest.raises(ConfigError, match="valid"):
        KeywordLabeler(["a", "b"], {"c": ["x"]})


class FakeTeacher:
    label_names = ("a", "b", "c")

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[list[str]] = []

    def logits(self, texts):
        self.calls.append(texts)
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        return [[0.0, 1.0, 2.0] for _ in texts]


def test_teacher_adapter_softmaxes_logits_in_one_batched_call():
    teacher = FakeTeacher()
    labels = TeacherLabeler(teacher, "fake").label(["x", "y"])
    assert teacher.calls == [["x", "y"]]
    e = [math.exp(v) for v in (0.0, 1.0, 2.0)]
    assert labels[0].probs["c"] == pytest.approx(e[2] / sum(e))
    assert labels[1].label == "c"


def test_teacher_failure_becomes_labeler_error():
    with pytest.raises(LabelerError, match="CUDA"):
        TeacherLabeler(FakeTeacher(fail=True), "fake").label(["x"])
    with pytest.raises(ConfigError):
        TeacherLabeler(object(), "nothing")
