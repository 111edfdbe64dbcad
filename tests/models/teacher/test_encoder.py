from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from models.errors import ConfigError
from models.teacher import Teacher, default_layers

TEXTS = ["物流订单号DH20231125状态更新", "Ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ parcel", "上海仓库存预警通知"]


def test_default_layers_are_middle_and_last() -> None:
    assert default_layers(12) == [6, 12]
    assert default_layers(6) == [3, 6]
    assert default_layers(1) == [1]


def test_e5_gives_chosen_layers_attention_and_mean_pooling(e5_teacher: Teacher) -> None:
    out = e5_teacher.encode(TEXTS)
    b, t = out.input_ids.shape
    assert e5_teacher.layers == [6, 12] and not e5_teacher.decoder_only
    assert {k: tuple(v.shape) for k, v in out.hidden_states.items()} == {
        6: (b, t, 384),
        12: (b, t, 384),
    }
    assert not torch.allclose(out.hidden_states[6], out.hidden_states[12])
    for layer in (6, 12):
        attn = out.attentions[layer]  # (B, heads, T, T)
        assert attn.shape == (b, 12, t, t)
        rows = attn.sum(-1).transpose(1, 2)[out.attention_mask.bool()]  # real query rows sum to 1
        assert torch.allclose(rows, torch.ones_like(rows), atol=1e-4)
        short = int(out.attention_mask.sum(1).argmin())
        assert (out.attention_mask[short] == 0).any(), "the batch should pad its shortest text"
        assert attn[short, :, :, out.attention_mask[short] == 0].abs().max() < 1e-6  # pads: 0
    mask = out.attention_mask.unsqueeze(-1).float()
    mean = (out.hidden_states[12] * mask).sum(1) / mask.sum(1)
    assert torch.allclose(out.pooled, mean, atol=1e-5)
    assert out.logits is None


def test_offsets_point_into_the_callers_text_not_the_prefix(e5_teacher: Teacher) -> None:
    out = e5_teacher.encode(TEXTS)
    for i, text in enumerate(TEXTS):
        covered: set[int] = set()
        for (start, end), keep in zip(out.offsets[i].tolist(), out.text_mask[i], strict=True):
            if not keep:
                assert (start, end) == (0, 0)
                continue
            assert 0 <= start < end <= len(text)
            covered.update(range(start, end))
        # every non-space character of the text belongs to some token
        assert covered >= {j for j, ch in enumerate(text) if not ch.isspace()}, text
    # the "query: " prefix tokens and the specials are masked out
    first = out.text_mask[0].nonzero()[0].item()
    assert first > 1


def test_minilm_fallback_loads_offline_and_embeds(teacher_factory: Callable[..., Teacher]) -> None:
    teacher = teacher_factory("minilm")
    assert teacher.layers == [3, 6] and teacher.hidden_size == 384 and teacher.text_prefix == ""
    emb = teacher.embed(
        ["the parcel was delivered", "the package has been delivered", "stock prices fell sharply"]
    )
    assert emb.shape == (3, 384)
    assert float(emb[0] @ emb[1]) > float(emb[0] @ emb[2]) + 0.2


def test_decoder_only_deepseek_pools_the_last_real_token(
    teacher_factory: Callable[..., Teacher], tiny_deepseek_factory: Callable[..., Path]
) -> None:
    folder = tiny_deepseek_factory(layers=4)
    teacher = teacher_factory(folder, attentions=True)
    assert teacher.decoder_only and teacher.layers == [2, 4]
    texts = ["parcel delayed", "订单已签收 at the hub, warehouse alert"]
    out = teacher.encode(texts)
    b, t = out.input_ids.shape
    assert out.hidden_states[4].shape == (b, t, 32)
    assert out.attentions[2].shape == (b, 2, t, t)
    last = out.attention_mask.sum(1) - 1  # right padding: index of the last real token
    assert torch.allclose(out.pooled, out.hidden_states[4][torch.arange(b), last])
    # padding does not change a text's pooled embedding (causal model, last real token)
    alone = teacher.encode([texts[0]]).pooled[0]
    assert torch.allclose(out.pooled[0], alone, atol=1e-5)
    spans = out.offsets[1][out.text_mask[1]].tolist()
    assert spans[0][0] == 0 and spans[-1][1] == len(texts[1])


def test_attached_head_gives_logits(teacher_factory: Callable[..., Teacher]) -> None:
    teacher = teacher_factory("minilm")
    teacher.attach_head(["运输中", "已签收", "异常"])
    out = teacher.encode(["parcel scanned at hub", "delivered"])
    assert out.logits is not None and out.logits.shape == (2, 3)
    probs = teacher.predict_proba(["parcel scanned at hub"])
    assert torch.allclose(probs.sum(-1), torch.ones(1))
    assert teacher.label_names == ["运输中", "已签收", "异常"]


def test_bad_arguments_name_the_valid_options(teacher_factory: Callable[..., Teacher]) -> None:
    with pytest.raises(ConfigError, match=r"1\.\.6"):
        teacher_factory("minilm", layers=[7])
    with pytest.raises(ConfigError, match="e5-small, minilm"):
        teacher_factory("no-such-teacher")
    with pytest.raises(ConfigError, match="head"):
        teacher_factory("minilm").predict_proba(["x"])
