"""Staged distillation with an in-memory teacher double behind the TargetTeacher interface."""

import json
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from models.data.synth import SynthConfig, synth_examples
from models.distill import DistillConfig, distill
from models.errors import ConfigError
from models.kd_targets import TeacherSample, cached_targets
from models.losses import LossConfig
from models.student import StudentConfig
from models.tokenizer import Tokenizer


class KeywordTeacher:
    """A teacher double: logits from a fixed text->label table, per-character hidden states and
    attention that peaks on the first character. Counts calls so caching is observable."""

    hidden_size = 16

    def __init__(self, table: dict[str, int], num_labels: int) -> None:
        self.table = table
        self.num_labels = num_labels
        self.teacher_id = "keyword-teacher-v1"
        self.calls = 0

    def targets(self, texts: Sequence[str]) -> list[TeacherSample]:
        self.calls += 1
        out = []
        for text in texts:
            logits = np.zeros(self.num_labels, dtype=np.float32)
            logits[self.table.get(text, 0)] = 4.0
            # one teacher "piece" per two characters, with specials at both ends
            pieces = [(0, 0)] + [(i, min(i + 2, len(text))) for i in range(0, len(text), 2)]
            pieces.append((0, 0))
            rng = np.random.default_rng(len(text))
            hidden = rng.standard_normal((len(pieces), self.hidden_size)).astype(np.float32)
            attention = np.full(len(pieces), 1.0 / len(pieces), dtype=np.float32)
            attention[1 if len(pieces) > 2 else 0] += 1.0
            out.append(TeacherSample(logits, pieces, hidden, attention / attention.sum()))
        return out

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([s.logits for s in self.targets(texts)]) if texts else np.zeros((0, 1))


def make_corpus(n_train: int = 240, seed: int = 0):
    cfg = SynthConfig(seed=seed, train=n_train, valid=80, test=10, phases=1)
    train = synth_examples(cfg, 0, "train")
    valid = synth_examples(cfg, 0, "valid")
    labels = sorted({ex.label for ex in train} | {ex.label for ex in valid})
    return train, valid, labels


def make_teacher(train, valid, labels) -> KeywordTeacher:
    index = {label: k for k, label in enumerate(labels)}
    return KeywordTeacher({ex.text: index[ex.label] for ex in [*train, *valid]}, len(labels))


SMALL = StudentConfig(num_labels=1, vocab_size=512, embed_dim=16, hidden=16)


def student_for(labels, pooling="last") -> StudentConfig:
    return StudentConfig(
        num_labels=len(labels), vocab_size=512, embed_dim=16, hidden=16, pooling=pooling
    )


@pytest.fixture
def corpus():
    return make_corpus()


def test_three_stages_run_in_order_and_save_a_loadable_student(tmp_path, corpus):
    torch.set_num_threads(1)
    train, valid, labels = corpus
    teacher = make_teacher(train, valid, labels)
    result = distill(
        train,
        valid,
        tmp_path / "out",
        teacher=teacher,
        tokenizer=Tokenizer(),
        transfer_texts=[ex.text[::-1] for ex in train[:40]],
        config=DistillConfig(stage_epochs=(1, 1, 1), batch_size=32),
        student=student_for(labels, "attention"),
        labels=labels,
        cache_dir=tmp_path / "cache",
    )
    assert [row["stage"] for row in result.history] == ["hard", "output", "full"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["attention_transfer"] is True
    assert metrics["num_transfer"] == 40
    assert (tmp_path / "out" / "adapter.safetensors").is_file()
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert all(np.isfinite(row["train_loss"]) for row in result.history)


def test_teacher_outputs_are_cached_on_disk(tmp_path, corpus):
    train, valid, labels = corpus
    teacher = make_teacher(train, valid, labels)
    tok = Tokenizer()
    texts = [ex.text for ex in train[:50]]
    first, hit1 = cached_targets(teacher, tok, texts, tmp_path)
    calls = teacher.calls
    second, hit2 = cached_targets(teacher, tok, texts, tmp_path)
    assert (hit1, hit2) == (False, True)
    assert teacher.calls == calls  # the second call did not run the teacher
    assert torch.equal(first.logits, second.logits)
    assert torch.equal(first.hidden, second.hidden)
    assert torch.equal(first.offsets, second.offsets)


def test_resume_continues_to_the_same_result(tmp_path, corpus):
    torch.set_num_threads(1)
    train, valid, labels = corpus
    teacher = make_teacher(train, valid, labels)
    common = dict(
        teacher=teacher,
        tokenizer=Tokenizer(),
        student=student_for(labels),
        labels=labels,
        cache_dir=tmp_path / "cache",
    )
    full = distill(
        train,
        valid,
        tmp_path / "a",
        config=DistillConfig(stage_epochs=(1, 1, 1), batch_size=32),
        **common,
    )
    distill(
        train,
        valid,
        tmp_path / "b",
        config=DistillConfig(stage_epochs=(1, 1, 0), batch_size=32),
        **common,
    )
    resumed = distill(
        train,
        valid,
        tmp_path / "b",
        resume=True,
        config=DistillConfig(stage_epochs=(1, 1, 1), batch_size=32),
        **common,
    )
    assert [r["stage"] for r in resumed.history] == ["hard", "output", "full"]
    for a, b in zip(full.history, resumed.history, strict=True):
        assert a["valid_macro_f1"] == pytest.approx(b["valid_macro_f1"])
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


def test_kd_stages_need_a_teacher_with_the_same_label_set(tmp_path, corpus):
    train, valid, labels = corpus
    with pytest.raises(ConfigError, match="need a teacher"):
        distill(
            train,
            valid,
            tmp_path,
            teacher=None,
            tokenizer=Tokenizer(),
            student=student_for(labels),
            labels=labels,
        )
    wrong = KeywordTeacher({}, len(labels) + 1)
    with pytest.raises(ConfigError, match="fine-tune the teacher"):
        distill(
            train,
            valid,
            tmp_path,
            teacher=wrong,
            tokenizer=Tokenizer(),
            student=student_for(labels),
            labels=labels,
        )


def test_soft_targets_move_the_student_towards_the_teacher(tmp_path, corpus):
    """With alpha = 1 (soft term only) the student still learns the teacher's labeling."""
    torch.set_num_threads(1)
    train, valid, labels = corpus
    teacher = make_teacher(train, valid, labels)
    result = distill(
        train,
        valid,
        tmp_path,
        teacher=teacher,
        tokenizer=Tokenizer(),
        config=DistillConfig(
            stage_epochs=(0, 6, 0), batch_size=16, lr=1e-2, loss=LossConfig(alpha=1.0)
        ),
        student=student_for(labels),
        labels=labels,
    )
    assert result.best["valid_macro_f1"] > 2.0 / len(labels)
