"""The converter's arithmetic (docs/integer-lstm.md section 7), the QAT simulation of the integer
scheme, and iterative magnitude pruning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.golden.intlstm import keyword_messages
from models.batching import pad_ids
from models.errors import ConfigError
from models.intlstm import integer_logits
from models.prune import PRUNABLE, iterative_prune, magnitude_masks, sparsity_of
from models.qat import FakeQuantStudent, fake_fixed, fake_rows, ste_round
from models.quantize import (
    embedding_scale,
    qat_finetune,
    quantize_arrays,
    quantize_student,
    quantize_tensor,
    row_scales,
)
from models.student import StudentConfig, TinyLSTM
from models.tokenizer import Tokenizer
from tests.models.int_student import LABELS, encode, trained_student
from tests.models.test_intlstm import random_float_state


def test_rounding_is_half_away_from_zero() -> None:
    q = quantize_tensor(np.array([0.5, 1.5, -0.5, -1.5, 2.4999, 300.0, -300.0]), 1.0)
    assert q.tolist() == [1, 2, -1, -2, 2, 127, -127]


def test_scales_follow_section_7() -> None:
    emb = np.array([[0.0, -2.54], [1.0, 0.5]])
    assert embedding_scale(emb) == pytest.approx(0.02)
    w = np.array([[1.27, -0.5], [0.0, 0.0]])
    assert row_scales(w).tolist() == pytest.approx([0.01, 1e-8 / 127])


def test_bias_and_multipliers_encode_the_documented_factors() -> None:
    state = random_float_state(40, 5, 4, 3, seed=9)
    m = quantize_arrays(state, ["a", "b", "c"], max_len=8)
    emb = state["embedding.weight"]
    s_x = np.abs(emb).max() / 127
    s_wx = np.abs(state["lstm.weight_ih_l0"]).max(axis=1) / 127
    s_wh = np.abs(state["lstm.weight_hh_l0"]).max(axis=1) / 127
    bias = state["lstm.bias_ih_l0"] + state["lstm.bias_hh_l0"]
    expected_b = np.sign(bias) * np.floor(np.abs(bias / (s_wx * s_x)) + 0.5)
    assert m.fwd.b.tolist() == expected_b.astype(int).tolist()
    np.testing.assert_allclose(m.fwd.mx / 2.0**m.fwd.nx, s_wx * s_x * 4096, rtol=1e-9)
    np.testing.assert_allclose(m.fwd.mh / 2.0**m.fwd.nh, s_wh * 32, rtol=1e-9)
    s_wo = np.abs(state["head.weight"]).max(axis=1) / 127
    np.testing.assert_allclose(m.head_m / 2.0**m.head_n, s_wo * 8, rtol=1e-9)
    assert m.input_scale == pytest.approx(s_x)
    assert int(np.abs(m.emb).max()) == 127 and int(np.abs(m.fwd.wx).max(axis=1).min()) == 127


def test_only_the_integer_engines_poolings_convert() -> None:
    model = TinyLSTM(StudentConfig(num_labels=3, vocab_size=64, pooling="attention"))
    with pytest.raises(ConfigError):
        FakeQuantStudent(model)
    from models.quantize import QuantizationError

    with pytest.raises(QuantizationError, match="pooling"):
        quantize_student(model, ["a", "b", "c"])


def test_fake_quant_primitives() -> None:
    x = torch.tensor([0.26, -0.74, 3.0], requires_grad=True)
    ste_round(x * 2).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [2.0, 2.0, 2.0]
    assert fake_fixed(torch.tensor([9.0, -9.0, 0.1]), 12, -32768, 32767).tolist() == [
        32767 / 4096,
        -8.0,
        round(0.1 * 4096) / 4096,
    ]
    w = torch.randn(5, 40)
    q = fake_rows(w)
    steps = q / (w.abs().amax(dim=1, keepdim=True) / 127)
    torch.testing.assert_close(steps, steps.round())


@pytest.mark.parametrize(
    ("hash_embedding", "pooling"), [(False, "last"), (True, "last"), (True, "meanmax")]
)
def test_fake_quant_forward_tracks_the_integer_engine(hash_embedding: bool, pooling: str) -> None:
    model, samples = trained_student(hash_embedding, pooling)
    ids, _ = encode(samples[:300])
    x, lengths = pad_ids(ids)
    with torch.no_grad():
        simulated = FakeQuantStudent(model).eval()(x, lengths).numpy()
    logits = integer_logits(quantize_student(model, LABELS), ids) / 1024.0
    assert np.mean(simulated.argmax(1) == logits.argmax(1)) >= 0.99
    assert np.max(np.abs(simulated - logits)) < 0.25  # LUT interpolation and tie rounding only


def _tiny_student(seed: int) -> TinyLSTM:
    torch.manual_seed(seed)
    return TinyLSTM(StudentConfig(num_labels=len(LABELS), vocab_size=256, hidden=16, embed_dim=8))


class _Ex:
    def __init__(self, text: str, label: str) -> None:
        self.text, self.label = text, label


def test_qat_finetune_keeps_the_best_simulated_accuracy() -> None:
    torch.set_num_threads(1)
    tok = Tokenizer(max_len=16)
    train = [_Ex(t, y) for t, y in keyword_messages(200, seed=5)]
    valid = [_Ex(t, y) for t, y in keyword_messages(64, seed=6)]
    model = _tiny_student(0)
    result = qat_finetune(model, train, valid, tok, labels=LABELS, steps=30, eval_every=10, lr=1e-2)
    assert result.model is model and not model.training
    assert result.valid_accuracy == max(result.history) and len(result.history) == 4
    assert result.history[-1] > result.history[0]  # it learned something through the simulation
    quantize_student(model, LABELS)  # still convertible
    with pytest.raises(ConfigError):
        qat_finetune(model, train, valid, tok, labels=LABELS[:3])


def test_magnitude_masks_keep_every_row_alive() -> None:
    model = _tiny_student(1)
    masks = magnitude_masks(model, 0.9)
    for name in PRUNABLE:
        if name != "embedding.weight":
            assert masks[name].any(dim=1).all(), name
        assert 0.8 <= 1 - masks[name].float().mean().item() <= 0.9, name
    with pytest.raises(ConfigError):
        magnitude_masks(model, 1.0)


def test_iterative_prune_reaches_the_target_and_still_converts() -> None:
    torch.set_num_threads(1)
    tok = Tokenizer(max_len=16)
    data = keyword_messages(200, seed=7)
    ids = [tok.encode(t) for t, _ in data]
    y = torch.tensor([LABELS.index(label) for _, label in data])
    result = iterative_prune(_tiny_student(2), ids, y, target=0.6, rounds=3, steps_per_round=5)
    assert result.schedule[-1] == pytest.approx(0.6) and result.schedule == sorted(result.schedule)
    assert 0.55 <= sparsity_of(result.model) == result.sparsity <= 0.65
    quantize_student(result.model, LABELS)
