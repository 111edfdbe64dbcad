import pytest
import torch

from models.adapter import Adapter, AdapterConfig
from models.align import align_attention, align_hidden, overlap_matrix
from models.errors import ConfigError
from models.tokenizer import Tokenizer


def test_each_student_token_takes_the_mean_of_overlapping_teacher_tokens():
    # "上海仓ab12": student tokens 上|海|仓|ab|#2; teacher pieces 上海|仓a|b12 + specials
    student = [(0, 1), (1, 2), (2, 3), (3, 5), (5, 7)]
    teacher = [(0, 0), (0, 2), (2, 4), (4, 7), (0, 0)]
    hidden = torch.arange(5, dtype=torch.float32).unsqueeze(1).repeat(1, 2)  # [5, 2]
    aligned, mask = align_hidden(hidden, student, teacher)
    assert mask.tolist() == [True] * 5
    assert aligned[:, 0].tolist() == [1.0, 1.0, 2.0, 2.5, 3.0]


def test_special_tokens_never_align_and_unmatched_student_tokens_are_masked():
    m = overlap_matrix([(0, 1), (5, 6)], [(0, 0), (0, 1), (1, 3)])
    assert m.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    _, mask = align_hidden(torch.ones(3, 4), [(0, 1), (5, 6)], [(0, 0), (0, 1), (1, 3)])
    assert mask.tolist() == [True, False]


def test_attention_mass_is_shared_and_renormalised():
    # teacher token 1 covers both student tokens; the special token's mass is dropped
    attention = torch.tensor([0.5, 0.3, 0.2])
    out = align_attention(attention, [(0, 1), (1, 2)], [(0, 0), (0, 2), (1, 2)])
    assert out.tolist() == pytest.approx([0.15 / 0.5, 0.35 / 0.5])
    assert out.sum().item() == pytest.approx(1.0)


def test_alignment_with_the_real_student_tokenizer_spans():
    text = "物流订单号DH20231125状态更新"
    spans = [(s, e) for _, s, e in Tokenizer().encode_with_spans(text)]
    assert "".join(text[s:e] for s, e in spans) == text  # no whitespace: spans tile the text
    teacher = [(0, 0), (0, 2), (2, 5), (5, 7), (7, 15), (15, 19), (0, 0)]
    aligned, mask = align_hidden(torch.randn(len(teacher), 8), spans, teacher)
    assert aligned.shape == (len(spans), 8)
    assert bool(mask.all())


def test_adapter_maps_teacher_width_to_bilstm_width():
    adapter = Adapter(AdapterConfig(teacher_hidden=384, student_width=256))
    out = adapter(torch.randn(2, 7, 384))
    assert out.shape == (2, 7, 256)
    with pytest.raises(ConfigError):
        AdapterConfig(teacher_hidden=0)
