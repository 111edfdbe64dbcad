"""Teacher fixtures: the e5-small conversion runs once per test session, into a temporary
cache, so every session exercises the real conversion path."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from models.teacher import Teacher, ensure_e5_small
from tests.chat_server import LABELS, chat_server_factory

__all__ = ["LABELS", "chat_server_factory"]  # the fake chat-completions endpoint


MIXED_TEXTS = [
    "物流订单号DH20231125状态更新",
    "上海仓库存预警通知",
    "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３ parcel scanned",
    "ＤＨＬ快递单号：１２３４５６，请注意查收！",
    "the parcel was delayed at the Shenzhen hub",
    "订单已签收，感谢使用顺丰速运",
    "Truck 7 ETA 14:30, 延误30分钟",
    "warehouse  inventory\talert\n重复空格",
    "退货申请已通过，退款将在3个工作日内到账",
    "hello world",
]


@pytest.fixture(scope="session", autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def teacher_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache directory holding the converted e5-small folder (converted once, and removed
    at the end of the session: it is ~500 MB)."""
    cache = tmp_path_factory.mktemp("teacher-cache")
    ensure_e5_small(cache)
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def teacher_factory(teacher_cache: Path) -> Callable[..., Teacher]:
    """Build teachers; ``e5-small`` comes from the session's converted cache."""

    def make(source: str | Path = "e5-small", **kwargs) -> Teacher:
        return Teacher(source, cache_dir=teacher_cache, **kwargs)

    return make


@pytest.fixture(scope="session")
def e5_teacher(teacher_factory: Callable[..., Teacher]) -> Teacher:
    """One e5-small teacher with attention maps, shared by read-only tests."""
    return teacher_factory("e5-small", attentions=True)


@pytest.fixture
def tiny_deepseek_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Save a tiny randomly initialised DeepSeek-V3 causal LM and a tiny byte-level BPE
    tokenizer to a folder (no download), as any local decoder-only checkpoint would be."""

    def make(layers: int = 4, seed: int = 0) -> Path:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import DeepseekV3Config, DeepseekV3ForCausalLM, PreTrainedTokenizerFast

        folder = tmp_path_factory.mktemp("tiny-deepseek")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<pad>", "<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(["parcel delayed at hub", "订单已签收", "warehouse alert"], trainer)
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
        )
        config = DeepseekV3Config(
            vocab_size=tok.get_vocab_size(),
            hidden_size=32,
            intermediate_size=64,
            moe_intermediate_size=16,
            num_hidden_layers=layers,
            num_attention_heads=2,
            num_key_value_heads=2,
            n_shared_experts=1,
            n_routed_experts=4,
            num_experts_per_tok=2,
            n_group=1,
            topk_group=1,
            first_k_dense_replace=1,
            kv_lora_rank=16,
            q_lora_rank=16,
            qk_rope_head_dim=8,
            qk_nope_head_dim=8,
            v_head_dim=8,
            max_position_embeddings=128,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        )
        torch.manual_seed(seed)
        DeepseekV3ForCausalLM(config).save_pretrained(folder)
        fast.save_pretrained(folder)
        return folder

    return make
