"""A tiny randomly initialised BERT teacher folder (no download), laid out as
``fleet teacher finetune`` writes it: encoder/ (HF folder + fast tokenizer), head, labels, meta."""

from __future__ import annotations

from pathlib import Path

import torch

CORPUS = [
    "parcel delayed at the hub",
    "订单已签收 感谢使用",
    "warehouse alert urgent 故障",
    "运输 在途 transit 车辆 发货",
    "预警 紧急 urgent 故障 立即",
    "签收 送达 delivered 完成 收到",
    "订单 物流 上海 仓库 通知 order dh 更新 状态 客户",
]


def make_tiny_teacher(
    folder: Path,
    labels: list[str],
    text_prefix: str = "query: ",
    layers: int = 4,
    seed: int = 0,
) -> Path:
    """Write a 4-layer, 32-wide BERT with a WordPiece tokenizer and a random head."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from models.teacher.classifier import ClassifierHead, FinetunedLayout, save_head, write_meta

    layout = FinetunedLayout(folder)
    layout.encoder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials)
    tok.train_from_iterator([*CORPUS, text_prefix], trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(layout.encoder)
    fast.save_pretrained(layout.encoder)
    save_head(ClassifierHead(32, len(labels)), layout, sorted(labels))
    write_meta(layout, text_prefix, "tiny-bert")
    return folder


def make_tiny_decoder(folder: Path, seed: int = 0) -> Path:
    """A 4-layer, 16-wide Llama with a byte-level BPE tokenizer (a plain HF checkpoint)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(seed)
    LlamaModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
