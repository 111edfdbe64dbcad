"""The fine-tuned teacher -> TargetTeacher adapter on tiny random checkpoints (no download)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from models.errors import ConfigError
from models.kd_targets import compute_targets
from models.teacher import Teacher
from models.teacher_targets import TargetConfig, TeacherTargets
from models.tokenizer import Tokenizer
from tests.models.tiny_teacher import make_tiny_decoder, make_tiny_teacher

LABELS = ["紧急", "运输中", "已签收"]
TEXTS = ["parcel delayed at the hub", "订单已签收 感谢使用", "warehouse alert urgent"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def tiny_teacher_factory(tmp_path: Path) -> Callable[..., Path]:
    def make(prefix: str = "query: ", layers: int = 4) -> Path:
        return make_tiny_teacher(tmp_path / f"teacher-{layers}-{len(prefix)}", LABELS, prefix,
                                 layers)  # fmt: skip

    return make


def test_offsets_refer_to_the_raw_text_despite_the_prefix(
    tiny_teacher_factory: Callable[..., Path],
) -> None:
    adapter = TeacherTargets.load(tiny_teacher_factory(prefix="query: "))
    assert adapter.teacher.text_prefix == "query: "
    for text, sample in zip(TEXTS, adapter.targets(TEXTS), strict=True):
        real = [(s, e) for s, e in sample.offsets if e > s]
        pieces = [text[s:e] for s, e in real]
        # Every word of the raw text is covered by teacher tokens, none by the prefix tokens.
        assert "".join(pieces) == text.replace(" ", ""), pieces
        assert "query" not in "".join(pieces)
        assert sample.offsets[0] == (0, 0)  # [CLS]
        assert sample.offsets[-1] == (0, 0)  # [SEP]


def test_shapes_layers_and_logits_from_the_head(tiny_teacher_factory: Callable[..., Path]) -> None:
    folder = tiny_teacher_factory()
    adapter = TeacherTargets.load(folder)
    assert adapter.hidden_layer == 2 and adapter.attention_layers == (2, 4)  # middle (+ last)
    assert adapter.hidden_size == 32 and adapter.labels == sorted(LABELS)
    samples = adapter.targets(TEXTS)
    reference = Teacher(folder, attentions=True)
    out = reference.encode(TEXTS)
    assert out.logits is not None
    for b, sample in enumerate(samples):
        tt = len(sample.offsets)
        assert tt == int(out.attention_mask[b].sum())
        assert sample.logits.shape == (3,)
        np.testing.assert_allclose(sample.logits, out.logits[b].numpy(), rtol=1e-4, atol=1e-5)
        assert sample.hidden.shape == (tt, 32)
        # hidden states of layer 2 (the middle block), not the last layer
        mid = Teacher(folder, layers=[2]).encode(TEXTS).hidden_states[2][b][:tt]
        np.testing.assert_allclose(sample.hidden, mid.numpy(), rtol=1e-4, atol=1e-5)
        assert sample.attention is not None and sample.attention.shape == (tt,)
        assert np.isclose(sample.attention.sum(), 1.0, atol=1e-5)
        assert (sample.attention >= 0).all()


def test_attention_row_is_the_pooling_position(tiny_teacher_factory: Callable[..., Path]) -> None:
    folder = tiny_teacher_factory()
    first = TeacherTargets.load(folder, TargetConfig(attention_layers=(4,)))
    mean = TeacherTargets.load(folder, TargetConfig(attention_layers=(4,), query="mean"))
    assert first.query == "first"  # an encoder pools from its first token by default
    out = Teacher(folder, attentions=True, layers=[4]).encode(TEXTS[:1])
    amap = out.attentions[4][0].mean(0)  # (T, T); one text, so no padding
    np.testing.assert_allclose(first.targets(TEXTS[:1])[0].attention, amap[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(
        mean.targets(TEXTS[:1])[0].attention, amap.mean(0).numpy(), atol=1e-5
    )
    assert first.teacher_id != mean.teacher_id  # different targets, different cache entries


def test_targets_align_to_student_tokens(tiny_teacher_factory: Callable[..., Path]) -> None:
    adapter = TeacherTargets.load(tiny_teacher_factory())
    targets = compute_targets(adapter, Tokenizer(), TEXTS)
    assert targets.logits.shape == (3, 3) and targets.has_attention
    assert targets.hidden.shape[1] == 32 and bool(targets.mask.any())


def test_rejects_bad_layers_and_queries(tiny_teacher_factory: Callable[..., Path]) -> None:
    folder = tiny_teacher_factory()
    with pytest.raises(ConfigError, match="out of range"):
        TeacherTargets.load(folder, TargetConfig(hidden_layer=9))
    with pytest.raises(ConfigError, match="query must be one of"):
        TargetConfig(query="cls")


def test_decoder_only_teacher_reads_the_last_token(tmp_path: Path) -> None:
    """A decoder-only checkpoint (tiny random Llama, byte-level BPE): attention from the last
    real token, padding dropped, offsets into the raw text."""
    folder = make_tiny_decoder(tmp_path / "decoder")
    teacher = Teacher(folder, attentions=True)
    teacher.attach_head(LABELS)
    adapter = TeacherTargets(teacher)
    assert adapter.query == "last" and adapter.hidden_layer == 2
    samples = adapter.targets(TEXTS)  # different lengths: the batch is padded
    for text, sample in zip(TEXTS, samples, strict=True):
        tt = len(sample.offsets)
        assert sample.hidden.shape == (tt, 16) and sample.attention is not None
        assert max(e for _, e in sample.offsets) == len(text)
        alone = adapter.targets([text])[0]  # unpadded: the same last-token row
        np.testing.assert_allclose(sample.attention, alone.attention, atol=1e-4)
