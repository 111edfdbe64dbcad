"""``Teacher``: hidden states, attention maps, character offsets, pooled embeddings and logits
from any local Hugging Face checkpoint, encoder (BERT-like) or decoder-only (Llama, Qwen,
DeepSeek), loaded offline with ``AutoModel`` / ``AutoTokenizer``.

Pooling follows the model family: encoders mean-pool the last layer over the attention mask
(as e5 and sentence-transformers do); decoder-only models take the last non-pad token, the only
position that has seen the whole text.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from models.errors import ConfigError, ModelsError
from models.teacher.catalog import SHIPPED, resolve_teacher

if TYPE_CHECKING:
    from transformers import PretrainedConfig

    from models.kd_targets import TeacherSample

from models.teacher.classifier import ClassifierHead, FinetunedLayout, load_head, read_meta
from models.teacher.tagger import TAG_HEAD_FILE, TokenTagHead, load_tag_head

# Encoders whose AutoModel accepts add_pooling_layer=False: we pool ourselves, so a checkpoint
# without pooler weights (the converted e5) is loaded without one rather than with a random one.
_POOLER_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "electra"})


@dataclass(frozen=True)
class TeacherOutput:
    """What the teacher says about one batch; B texts, T tokens, H hidden width."""

    input_ids: torch.Tensor  # (B, T) token ids
    attention_mask: torch.Tensor  # (B, T) 1 for real tokens, 0 for padding
    offsets: torch.Tensor  # (B, T, 2) [start, end) characters in the caller's text
    text_mask: torch.Tensor  # (B, T) bool: token covers caller text (not special/pad/prefix)
    hidden_states: dict[int, torch.Tensor]  # layer (1 = first block) -> (B, T, H)
    attentions: dict[int, torch.Tensor]  # layer -> (B, heads, T, T); empty unless requested
    pooled: torch.Tensor  # (B, H) sentence embedding
    logits: torch.Tensor | None  # (B, C) when a classification head is attached
    tag_logits: torch.Tensor | None = None  # (B, T, tags) when a token tag head is attached


def _is_decoder_only(config: PretrainedConfig) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    if getattr(config, "is_encoder_decoder", False):
        raise ConfigError(
            f"{config.model_type} is encoder-decoder; the teacher takes encoders or decoder-only"
        )
    return config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def _has_pooler(folder: Path) -> bool:
    """True unless ``folder/model.safetensors`` exists and holds no pooler weights."""
    from safetensors import safe_open

    weights = folder / "model.safetensors"
    if not weights.is_file():
        return True
    with safe_open(str(weights), "pt") as f:
        return any("pooler." in key for key in f.keys())  # noqa: SIM118 (safe_open has no __iter__)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def default_layers(num_layers: int) -> list[int]:
    """Middle and last layer: layers 6 and 12 of a 12-layer encoder."""
    return sorted({max(1, num_layers // 2), num_layers})


class Teacher(nn.Module):
    """A frozen-or-trainable teacher wrapping one Hugging Face model (+ optional head)."""

    def __init__(
        self,
        source: str | Path = "e5-small",
        layers: list[int] | None = None,
        attentions: bool = False,
        max_length: int = 256,
        cache_dir: Path | None = None,
        text_prefix: str | None = None,
    ) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        assert max_length > 2, f"max_length must leave room for text, got {max_length}"
        # 1. Resolve: shipped name, fine-tuned folder (encoder/ + head) or plain checkpoint.
        layout = FinetunedLayout(Path(source))
        self.head: ClassifierHead | None = None
        self.tag_head: TokenTagHead | None = None  # entity tags per token (--task tag)
        self.labels: list[str] = []
        if layout.exists():
            meta = read_meta(layout)
            model_path, prefix = layout.encoder, str(meta["text_prefix"])
            self.tag_head = load_tag_head(layout.root)
            if self.tag_head is None or layout.head.is_file():
                self.head, self.labels = load_head(layout)
            digest = layout.head if self.head is not None else layout.root / TAG_HEAD_FILE
            self.teacher_id = f"{layout.root.resolve()}@{_digest(digest)}"
        else:
            resolved = resolve_teacher(source, cache_dir)
            model_path, prefix = resolved.path, resolved.text_prefix
            shipped = str(source) in SHIPPED
            self.teacher_id = str(source) if shipped else str(Path(source).resolve())
        self.model_path = model_path
        self.text_prefix = prefix if text_prefix is None else text_prefix
        self.max_length = max_length
        self.want_attentions = attentions

        # 2. Load config, tokenizer and model offline.
        try:
            config = AutoConfig.from_pretrained(model_path, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
            self.decoder_only = _is_decoder_only(config)
            kwargs: dict[str, object] = {"local_files_only": True}
            if attentions:
                kwargs["attn_implementation"] = "eager"  # sdpa kernels return no weights
            if config.model_type in _POOLER_TYPES and not _has_pooler(Path(model_path)):
                kwargs["add_pooling_layer"] = False
            self.model = AutoModel.from_pretrained(model_path, **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelsError(f"cannot load teacher checkpoint {model_path}: {exc}") from exc
        if not self.tokenizer.is_fast:
            raise ConfigError(f"{model_path}: need a fast tokenizer (character offsets)")
        if self.tokenizer.pad_token is None:  # decoder-only tokenizers often lack one
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.num_layers = int(config.num_hidden_layers)
        self.hidden_size = int(config.hidden_size)
        self.layers = list(layers) if layers is not None else default_layers(self.num_layers)
        bad = [n for n in self.layers if not 1 <= n <= self.num_layers]
        if bad:
            raise ConfigError(f"layers {bad} out of range: valid 1..{self.num_layers}")
        if self.head is not None and self.head.linear.in_features != self.hidden_size:
            raise ConfigError(f"head expects width {self.head.linear.in_features}")

    @classmethod
    def load(cls, source: str | Path, **kwargs: Any) -> Teacher:
        """Same as the constructor; reads better at call sites that load a fine-tuned folder."""
        return cls(source, **kwargs)

    @property
    def label_names(self) -> list[str]:
        """Labels of the attached head, in logit-column order (empty without a head)."""
        return list(self.labels)

    def attach_head(self, labels: list[str], dropout: float = 0.1) -> ClassifierHead:
        """Give the teacher a fresh classification head over ``labels`` (for fine-tuning)."""
        assert len(set(labels)) == len(labels), "labels must be distinct"
        self.head = ClassifierHead(self.hidden_size, len(labels), dropout)
        self.labels = list(labels)
        return self.head

    def attach_tag_head(self, num_tags: int, dropout: float = 0.1) -> TokenTagHead:
        """Give the teacher a fresh token tag head (for ``fleet teacher finetune --task tag``)."""
        self.tag_head = TokenTagHead(self.hidden_size, num_tags, dropout)
        return self.tag_head

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise with offsets into the caller's text (the prefix is not counted)."""
        assert isinstance(texts, list) and texts, "texts must be a non-empty list of str"
        plen = len(self.text_prefix)
        enc = self.tokenizer(
            [self.text_prefix + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_tensors="pt",
        )
        offsets = enc["offset_mapping"] - plen  # (B, T, 2) relative to the caller's text
        text_mask = (
            (enc["special_tokens_mask"] == 0) & (enc["attention_mask"] == 1) & (offsets[..., 1] > 0)
        )
        offsets = offsets.clamp(min=0) * text_mask.unsqueeze(-1)  # (B, T, 2), 0 off-text
        return {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "offsets": offsets,
            "text_mask": text_mask,
        }

    def pool(self, last_hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, H), (B, T) -> (B, H): mean over mask, or the last real token for decoders."""
        if self.decoder_only:
            positions = torch.arange(mask.shape[1], device=mask.device)  # (T,)
            last = (mask * positions).argmax(dim=1)  # (B,) index of the last real token
            return last_hidden[torch.arange(last_hidden.shape[0]), last]
        weights = mask.unsqueeze(-1).to(last_hidden.dtype)  # (B, T, 1)
        return (last_hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def forward(self, batch: dict[str, torch.Tensor]) -> TeacherOutput:
        """Run a batch from :meth:`tokenize` (with gradients when training)."""
        device = next(self.model.parameters()).device
        ids = batch["input_ids"].to(device)
        mask = batch["attention_mask"].to(device)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            output_hidden_states=True,
            output_attentions=self.want_attentions,
        )
        hidden = out.hidden_states  # tuple of num_layers + 1, index 0 = embeddings
        assert len(hidden) == self.num_layers + 1, f"got {len(hidden)} hidden-state tensors"
        attentions = {}
        if self.want_attentions and out.attentions is not None:
            attentions = {n: out.attentions[n - 1] for n in self.layers}
        pooled = self.pool(hidden[-1], mask)
        logits = self.head(pooled) if self.head is not None else None
        tag_logits = self.tag_head(hidden[-1]) if self.tag_head is not None else None
        return TeacherOutput(
            input_ids=ids,
            attention_mask=mask,
            offsets=batch["offsets"],
            text_mask=batch["text_mask"],
            hidden_states={n: hidden[n] for n in self.layers},
            attentions=attentions,
            pooled=pooled,
            logits=logits,
            tag_logits=tag_logits,
        )

    @torch.no_grad()
    def encode(self, texts: list[str]) -> TeacherOutput:
        """Inference on a list of texts: eval mode, no gradients."""
        was_training = self.training
        self.eval()
        try:
            return self.forward(self.tokenize(texts))
        finally:
            self.train(was_training)

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 32) -> torch.Tensor:
        """(N, H) L2-normalised pooled embeddings, batched."""
        chunks = [
            self.encode(texts[i : i + batch_size]).pooled for i in range(0, len(texts), batch_size)
        ]
        return nn.functional.normalize(torch.cat(chunks), dim=-1)

    @torch.no_grad()
    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(N, C) float32 head logits, in the order of ``texts``; batches hold texts of similar
        length (less padding computed)."""
        if self.head is None:
            raise ConfigError("this teacher has no classification head; fine-tune it first")
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            logits = self.encode([texts[i] for i in rows]).logits
            assert logits is not None
            out[rows] = logits.float().cpu().numpy()
        return out

    @torch.no_grad()
    def predict_proba(
        self, texts: list[str], batch_size: int = 64, temperature: float = 1.0
    ) -> torch.Tensor:
        """(N, C) soft labels from the attached head, softmax at ``temperature``."""
        assert temperature > 0, f"temperature must be positive, got {temperature}"
        logits = torch.from_numpy(self.logits(texts, batch_size))
        return torch.softmax(logits / temperature, dim=-1)

    @torch.no_grad()
    def targets(self, texts: Sequence[str], batch_size: int = 16) -> list[TeacherSample]:
        """Per-text distillation targets (``models.kd_targets.TargetTeacher``).

        Logits come from the head; hidden states from the last of ``layers``; attention is the
        last chosen layer's map averaged over heads, read from the pooling position (the mean
        over real query tokens for encoders, the last token for decoders). Padding is dropped;
        specials and prefix tokens stay, with empty (0, 0) spans.
        """
        from models.kd_targets import TeacherSample

        if self.head is None:
            raise ConfigError("distillation targets need a classification head: fine-tune first")
        layer = self.layers[-1]
        samples: list[TeacherSample] = []
        for i in range(0, len(texts), batch_size):
            out = self.encode(list(texts[i : i + batch_size]))
            assert out.logits is not None
            for b in range(out.input_ids.shape[0]):
                real = out.attention_mask[b].bool()  # (T,)
                attention: np.ndarray | None = None
                if layer in out.attentions:
                    amap = out.attentions[layer][b].mean(0)[real][:, real]  # (Tt, Tt)
                    row = amap[-1] if self.decoder_only else amap.mean(0)  # (Tt,)
                    attention = row.float().cpu().numpy()
                spans = [(int(s), int(e)) for s, e in out.offsets[b][real.cpu()].tolist()]
                samples.append(
                    TeacherSample(
                        logits=out.logits[b].float().cpu().numpy(),
                        offsets=spans,
                        hidden=out.hidden_states[layer][b][real].float().cpu().numpy(),
                        attention=attention,
                    )
                )
        return samples
