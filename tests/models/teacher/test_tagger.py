"""``fleet teacher finetune --task tag``: a token tag head trained on entity spans, resumable,
loaded by ``Teacher``, decoded to entities and mapped onto student tokens."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from models.data.loaders import write_jsonl
from models.data.spans import IGNORE_TAG, TAGS, Entity
from models.data.synth import SynthConfig, generate_phase
from models.errors import ConfigError, DataError
from models.tag_targets import TeacherTagger
from models.teacher import Teacher
from models.teacher.finetune import FinetuneConfig, finetune
from models.teacher.tagger import gold_teacher_tags, teacher_entities, trimmed_spans
from services.cli import build_app


@pytest.fixture(scope="module")
def english_records() -> list[dict]:
    records = generate_phase(SynthConfig(seed=5, train=120, valid=4, test=4, phases=1), 0)
    return [r for r in records["train"] if r["lang"] == "en"][:32]


def _config(**kwargs) -> FinetuneConfig:
    base = dict(teacher="minilm", task="tag", batch_size=4, lr=1e-4, head_lr=5e-3,
                checkpoint_every=4, max_length=48, dropout=0.0)  # fmt: skip
    return FinetuneConfig(**{**base, **kwargs})


def test_teacher_tokens_are_tagged_from_the_spans() -> None:
    assert trimmed_spans("at Wuhan", [(2, 8), (0, 0), (2, 3)]) == [(3, 8), (0, 0), (0, 0)]
    teacher = Teacher("minilm", max_length=32)
    text = "parcel SF1234567890 left Wuhan"
    batch = teacher.tokenize([text])
    gold = gold_teacher_tags(batch, [text], [[Entity(7, 19, "ID"), Entity(25, 30, "PLACE")]])
    names = {TAGS[t] for t in gold[0].tolist() if t != IGNORE_TAG}
    assert names == {"O", "B-ID", "I-ID", "B-PLACE", "I-PLACE"}  # sf ##12 ... wu ##han
    assert gold[0, 0].item() == IGNORE_TAG  # [CLS]


def test_tag_finetune_learns_resumes_and_loads(english_records, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    data = write_jsonl(tmp_path / "train.jsonl", english_records) and tmp_path / "train.jsonl"
    straight = finetune(data, tmp_path / "a", _config(max_steps=16), progress=False)
    assert straight.labels == list(TAGS)
    first, last = straight.losses[:3], straight.losses[-3:]
    assert sum(last) < 0.6 * sum(first), straight.losses
    finetune(data, tmp_path / "b", _config(max_steps=8), progress=False)
    resumed = finetune(data, tmp_path / "b", _config(max_steps=16), progress=False)
    assert resumed.resumed_from == 8
    assert resumed.losses == pytest.approx(straight.losses[8:], rel=1e-4, abs=1e-5)

    teacher = Teacher.load(straight.out_dir)
    assert teacher.head is None and teacher.tag_head is not None
    with pytest.raises(ConfigError, match="no classification head"):
        teacher.predict_proba(["x"])
    texts = [r["text"] for r in english_records[:8]]
    found = teacher_entities(teacher, texts)
    assert len(found) == 8 and any(found)  # it finds something after 16 steps
    for text, entities in zip(texts, found, strict=True):
        assert all(0 <= e.start < e.end <= len(text) for e in entities)
    rows = TeacherTagger(teacher).tag_log_probs(texts[:2])
    spans, log_p = rows[0]
    assert log_p.shape == (len(spans), len(TAGS))
    assert np.allclose(np.exp(log_p).sum(1), 1.0, atol=1e-5)


def test_cli_tag_task_needs_entities(tmp_path: Path) -> None:
    data = tmp_path / "plain.jsonl"
    data.write_text(json.dumps({"text": "hello", "label": "a"}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(build_app(), ["teacher", "finetune", "--data", str(data),
                                              "--out", str(tmp_path / "t"), "--task", "tag",
                                              "--teacher", "minilm", "--no-progress"])  # fmt: skip
    assert result.exit_code == 1 and "no examples with entities" in result.output
    with pytest.raises(ConfigError, match="task must be one of"):
        FinetuneConfig(task="ner")
    with pytest.raises(DataError, match="no examples with entities"):
        finetune(data, tmp_path / "u", _config(max_steps=1), progress=False)
