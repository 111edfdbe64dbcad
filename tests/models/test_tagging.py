"""The student's entity tagger: teacher-to-student tag mapping, the joint loss, training with
gold tags and with a teacher's tags only, and saving."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from models.data.record import Example
from models.data.spans import TAGS, Entity, example_entities, token_tags
from models.data.synth import SynthConfig, synth_examples
from models.distill import DistillConfig, distill
from models.entity_eval import entity_report
from models.errors import ConfigError
from models.student import StudentConfig, TinyLSTM, load_student, save_student
from models.tag_targets import align_tag_log_probs, cached_tag_targets
from models.tagging import (
    NUM_TAGS,
    TagLossConfig,
    emission_kd,
    evaluate_tagger,
    gold_tag_rows,
    pad_tags,
    predict_entities,
    tag_loss,
)
from models.tokenizer import Tokenizer
from models.train import TrainConfig, train_student

TOK = Tokenizer()
B_ID, I_ID = TAGS.index("B-ID"), TAGS.index("I-ID")


def one_hot_log_probs(tags: Sequence[int], p: float = 0.9) -> np.ndarray:
    out = np.full((len(tags), NUM_TAGS), (1 - p) / (NUM_TAGS - 1))
    out[np.arange(len(tags)), list(tags)] = p
    return np.log(out).astype(np.float32)


class CharTagTeacher:
    """A tag teacher double: one teacher token per non-space character, tagged from the gold
    entities it is given (p = 0.9 on the gold tag). Counts calls so caching is observable."""

    teacher_id = "char-tag-teacher-v1"

    def __init__(self, gold: dict[str, list[Entity]]) -> None:
        self.gold = gold
        self.calls = 0

    def tag_log_probs(self, texts: Sequence[str]):
        self.calls += 1
        out = []
        for text in texts:
            spans = [(i, i + 1) for i, ch in enumerate(text) if not ch.isspace()]
            out.append((spans, one_hot_log_probs(token_tags(spans, self.gold.get(text, [])))))
        return out


def tagging_student(labels, hidden: int = 32) -> StudentConfig:
    return StudentConfig(num_labels=len(labels), vocab_size=512, embed_dim=16, hidden=hidden,
                         num_tags=NUM_TAGS)  # fmt: skip


@pytest.fixture(scope="module")
def corpus():
    config = SynthConfig(seed=3, train=400, valid=60, test=120, phases=1)
    train, valid, test = (synth_examples(config, 0, s) for s in ("train", "valid", "test"))
    labels = sorted({ex.label for ex in [*train, *valid, *test]})
    return train, valid, test, labels


def test_teacher_tags_move_to_student_tokens():
    # student: "sf" [0,2), "#10" [2,12), "到" [12,13); teacher: one piece [0,12), "到" [12,13)
    student = [(0, 2), (2, 12), (12, 13), (20, 21)]
    teacher = [(0, 12), (12, 13)]
    log_p, mask = align_tag_log_probs(one_hot_log_probs([B_ID, 0]), student, teacher)
    assert mask.tolist() == [True, True, True, False]  # [20, 21) is past the teacher's tokens
    assert np.exp(log_p[0, B_ID]) == pytest.approx(0.9)  # the first student token keeps B
    assert np.exp(log_p[1, I_ID]) == pytest.approx(0.9 + 0.01) and np.exp(log_p[1, B_ID]) < 1e-7
    assert log_p[2].argmax() == 0
    # a student token over two teacher pieces takes the first one's distribution
    log_p, _ = align_tag_log_probs(one_hot_log_probs([B_ID, I_ID]), [(0, 8)], [(0, 4), (4, 8)])
    assert log_p[0].argmax() == B_ID


def test_tag_targets_are_cached(tmp_path, corpus):
    train, *_ = corpus
    texts = [ex.text for ex in train[:30]]
    teacher = CharTagTeacher({ex.text: example_entities(ex) or [] for ex in train})
    first, hit1 = cached_tag_targets(teacher, TOK, texts, tmp_path)
    calls = teacher.calls
    second, hit2 = cached_tag_targets(teacher, TOK, texts, tmp_path)
    assert (hit1, hit2) == (False, True) and teacher.calls == calls
    assert torch.equal(first.log_probs, second.log_probs) and len(second) == 30
    log_p, mask = second.batch([0, 1], 70)
    assert log_p.shape == (2, 70, NUM_TAGS) and mask[:, 64:].sum() == 0


def test_loss_terms():
    torch.manual_seed(0)
    model = TinyLSTM(tagging_student(["a", "b"], hidden=8))
    emissions = torch.randn(2, 5, NUM_TAGS)
    lengths = torch.tensor([5, 3])
    gold = pad_tags([[0, B_ID, I_ID, 0, 0], None], 5)
    assert gold[1].tolist() == [-100] * 5
    config = TagLossConfig(weight=2.0, alpha=0.25)
    total, crf, kd = tag_loss(config, model, emissions, lengths, gold)
    expected = model.crf.nll(emissions[:1], gold[:1], lengths[:1]).sum() / 5
    assert crf.item() == pytest.approx(expected.item()) and kd.item() == 0.0
    assert total.item() == pytest.approx(2.0 * crf.item())
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    total, crf, kd = tag_loss(config, model, emissions, lengths, gold, emissions.clone(), mask)
    assert kd.item() == pytest.approx(0.0, abs=1e-6)  # a student equal to its teacher
    assert total.item() == pytest.approx(2.0 * 0.75 * crf.item())
    assert emission_kd(emissions, torch.zeros_like(emissions), mask, 3.0).item() > 0


def test_gold_tags_train_a_tagger_and_it_survives_save_and_load(tmp_path, corpus):
    torch.set_num_threads(1)
    train, valid, test, labels = corpus
    untrained = evaluate_tagger(TinyLSTM(tagging_student(labels)).eval(), TOK, test)
    result = train_student(train, valid, tmp_path / "s", tokenizer=TOK, labels=labels,
                           config=TrainConfig(epochs=12, patience=12, batch_size=32, lr=5e-3),
                           student=tagging_student(labels))  # fmt: skip
    report = evaluate_tagger(result.model, TOK, test)
    assert report.f1 > 0.5 > untrained.f1, (report.to_dict(), untrained.f1)
    loaded, _ = load_student(tmp_path / "s")
    texts = [ex.text for ex in test]
    assert predict_entities(loaded, TOK, texts) == predict_entities(result.model, TOK, texts)
    save_student(loaded, labels, tmp_path / "again")
    assert load_student(tmp_path / "again")[0].config.num_tags == NUM_TAGS


def test_a_teacher_alone_can_teach_the_tags(tmp_path, corpus):
    """No gold tags at all (entities removed): the KD stage learns them from the teacher."""
    torch.set_num_threads(1)
    train, valid, test, labels = corpus
    teacher = CharTagTeacher({ex.text: example_entities(ex) or [] for ex in train})
    unlabeled = [dataclasses.replace(ex, meta={}) for ex in train]
    assert gold_tag_rows(unlabeled, TOK) == [None] * len(train)

    class LabelTeacher:  # the classification side: a uniform teacher (not what is tested)
        hidden_size, teacher_id = 4, "uniform"

        def targets(self, texts):
            from models.kd_targets import TeacherSample

            return [TeacherSample(np.zeros(len(labels), np.float32), [(0, 0)],
                                  np.zeros((1, 4), np.float32), None) for _ in texts]  # fmt: skip

        def logits(self, texts):  # output distillation reads only these
            return np.zeros((len(texts), len(labels)), np.float32)

    result = distill(unlabeled, valid, tmp_path / "kd", teacher=LabelTeacher(), tokenizer=TOK,
                     config=DistillConfig(stage_epochs=(0, 12, 0), batch_size=32, lr=5e-3,
                                          tag_loss=TagLossConfig(alpha=1.0, temperature=1.0)),
                     student=tagging_student(labels), labels=labels, tag_teacher=teacher,
                     cache_dir=tmp_path / "cache")  # fmt: skip
    assert evaluate_tagger(result.model, TOK, test).f1 > 0.3  # an untrained tagger: ~0.01


def test_a_student_without_entities_or_teacher_is_refused(tmp_path, corpus):
    train, valid, _, labels = corpus
    bare = [Example(ex.text, ex.label) for ex in train]
    with pytest.raises(ConfigError, match="entities or a tag teacher"):
        distill(bare, valid, tmp_path, teacher=None, tokenizer=TOK, labels=labels,
                config=DistillConfig(stage_epochs=(1, 0, 0)),
                student=tagging_student(labels))  # fmt: skip
    with pytest.raises(ConfigError, match="num_tags"):
        StudentConfig(num_labels=2, num_tags=1)


def test_entity_report_counts_exact_spans_per_type_and_language():
    gold = [[Entity(0, 2, "PLACE"), Entity(3, 5, "ID")], [Entity(0, 4, "DATE")]]
    pred = [
        [Entity(0, 2, "PLACE"), Entity(3, 6, "ID")],
        [Entity(0, 4, "DATE"), Entity(5, 6, "QTY")],
    ]
    report = entity_report(gold, pred, ["zh", "en"]).to_dict()
    assert (report["correct"], report["predicted"], report["gold"]) == (2, 4, 3)
    assert report["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert report["by_type"]["ID"]["f1"] == 0.0 and report["by_type"]["PLACE"]["f1"] == 1.0
    assert report["by_lang"]["zh"]["recall"] == 0.5 and report["by_lang"]["en"]["precision"] == 0.5


def test_cli_trains_a_tagging_student_and_eval_reports_entities(tmp_path):
    import json

    from typer.testing import CliRunner

    from models.data.synth import write_corpus
    from services.cli import build_app

    write_corpus(SynthConfig(seed=4, train=120, valid=30, test=30, phases=1), tmp_path / "d")
    runner = CliRunner()
    data, out = tmp_path / "d" / "phase0", tmp_path / "s"
    result = runner.invoke(build_app(), ["train", "student", "--data", str(data), "--out", str(out),
                                         "--tags", "--epochs", "1", "--max-steps", "2",
                                         "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "test_entity_f1" in json.loads(result.output.strip().splitlines()[-1])
    result = runner.invoke(build_app(), ["eval", "--model", str(out), "--data",
                                         str(data / "test.jsonl"), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    entities = json.loads(result.output)["entities"]
    assert entities["gold"] > 0 and set(entities["by_type"]) == {"ID", "CARRIER", "PLACE",
                                                                 "DATE", "QTY"}  # fmt: skip
