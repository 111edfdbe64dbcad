import math

import pytest
import torch
import torch.nn.functional as F

from models.errors import ConfigError
from models.losses import (
    IGNORE_LABEL,
    LossConfig,
    attention_kl,
    hard_ce,
    hidden_mse,
    hybrid_loss,
    soft_kd,
)


def make_logits(seed: int, batch: int = 4, classes: int = 5) -> torch.Tensor:
    return torch.randn(batch, classes, generator=torch.Generator().manual_seed(seed))


def test_soft_kd_is_zero_for_identical_logits_and_positive_otherwise():
    s = make_logits(0)
    assert soft_kd(s, s.clone(), 3.0).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_kd(s, make_logits(1), 3.0).item() > 0.01


def test_soft_kd_matches_hand_computed_kl_times_t_squared():
    s, t, temp = make_logits(2, batch=1), make_logits(3, batch=1), 2.0
    p_t = F.softmax(t / temp, dim=-1)[0]
    p_s = F.softmax(s / temp, dim=-1)[0]
    expected = float((p_t * (p_t / p_s).log()).sum()) * temp * temp
    assert soft_kd(s, t, temp).item() == pytest.approx(expected, rel=1e-5)


def test_soft_kd_accepts_teacher_log_probabilities():
    s, t = make_logits(4), make_logits(5)
    assert soft_kd(s, F.log_softmax(t, dim=-1), 3.0).item() == pytest.approx(
        soft_kd(s, t, 3.0).item(), rel=1e-5
    )


def test_hard_ce_ignores_transfer_rows_and_is_zero_without_labels():
    s = make_logits(6)
    labels = torch.tensor([0, IGNORE_LABEL, 2, IGNORE_LABEL])
    expected = F.cross_entropy(s[[0, 2]], labels[[0, 2]])
    assert hard_ce(s, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    assert hard_ce(s, torch.full((4,), IGNORE_LABEL)).item() == 0.0


def test_hidden_mse_counts_only_masked_tokens():
    student = torch.zeros(1, 3, 2)
    target = torch.tensor([[[1.0, 1.0], [2.0, 2.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    assert hidden_mse(student, target, mask).item() == pytest.approx((1 + 1 + 4 + 4) / 4)


def test_attention_kl_zero_for_equal_and_skips_empty_teacher_rows():
    p = torch.tensor([[0.2, 0.8, 0.0], [0.5, 0.5, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, False]])
    assert attention_kl(p, p.clone(), mask).item() == pytest.approx(0.0, abs=1e-6)
    teacher = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    expected = 0.5 * math.log(0.5 / 0.2) + 0.5 * math.log(0.5 / 0.8)
    assert attention_kl(p, teacher, mask).item() == pytest.approx(expected, rel=1e-4)


def test_hybrid_loss_mixes_terms_with_configured_weights():
    cfg = LossConfig(alpha=0.7, temperature=3.0, hidden_weight=0.3, attention_weight=0.2)
    s, t = make_logits(7, batch=2), make_logits(8, batch=2)
    labels = torch.tensor([1, 3])
    sh = torch.randn(2, 4, 6)
    th = torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    sa = torch.softmax(torch.randn(2, 4), dim=-1) * mask
    ta = torch.softmax(torch.randn(2, 4), dim=-1) * mask
    parts = hybrid_loss(cfg, s, t, labels, sh, th, mask, sa, ta)
    expected = 0.7 * parts.soft + 0.3 * parts.hard + 0.3 * parts.hidden + 0.2 * parts.attention
    assert parts.total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert min(parts.soft.item(), parts.hard.item(), parts.hidden.item()) > 0


def test_hybrid_loss_without_teacher_is_cross_entropy():
    s = make_logits(9)
    labels = torch.tensor([0, 1, 2, 3])
    parts = hybrid_loss(LossConfig(), s, None, labels)
    assert parts.total.item() == pytest.approx(F.cross_entropy(s, labels).item(), rel=1e-6)


@pytest.mark.parametrize("kwargs", [{"alpha": 1.5}, {"temperature": 0.0}, {"hidden_weight": -1.0}])
def test_loss_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        LossConfig(**kwargs)
