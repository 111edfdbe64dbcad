"""TinyLSTM: the student that runs on the devices (embedding -> BiLSTM -> pooling -> linear head).

Its input is the tokenizer's 32-bit token key hashes; the hash embedding (``models/embedding.py``,
``docs/tokenizer.md`` section 7) reads ``hashes`` rows of the table per token and weighs them
with per-token importance weights (the default: K = 2 rows, P = 4096 weights, spec v2).
``hashes=1, buckets=0`` is spec v1's one row per token.

The module and parameter names (``embedding``, ``importance``, ``lstm``, ``head``,
``attn_query``) are part of the contract with the integer converter (``docs/integer-lstm.md``);
do not rename them.

Padding is masked with ``pack_padded_sequence`` so that a sequence's output does not depend on
how much padding its batch carries, and the float model computes what the device computes:
the forward direction steps over the real tokens ``0..T-1``, the backward direction steps over
``T-1..0``, and "last" pooling is ``[h_fwd after T-1 ; h_bwd after 0]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.crf import LinearChainCRF
from models.embedding import MAX_BUCKETS, MAX_HASHES, buckets, rows
from models.errors import ConfigError, ModelsError
from models.tokenizer import Tokenizer

POOLINGS: tuple[str, ...] = ("last", "meanmax", "attention")
DEFAULT_HASHES = 2  # spec v2's hash embedding (docs/tokenizer.md section 7)
DEFAULT_BUCKETS = 4096
SPEC_V1 = {"hashes": 1, "buckets": 0}  # StudentConfig overrides for spec v1's one row per token

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
LABELS_FILE = "labels.json"


@dataclass(frozen=True)
class StudentConfig:
    num_labels: int  # number of output classes C
    vocab_size: int = 2048  # embedding rows V (incl. the reserved rows 0, 1)
    # The default is spec v2's hash embedding (K = 2, P = 4096): in the distillation report it
    # beat spec v1 (K = 1, P = 0) on ECDT and Banking77 and beat the TF-IDF baseline, which v1
    # only tied. ``hashes=1, buckets=0`` still selects v1 (blob tokenizer version 1).
    hashes: int = DEFAULT_HASHES  # K: table rows each token reads (1 = spec v1's single row)
    buckets: int = DEFAULT_BUCKETS  # P: importance-weight rows, K weights each (0 = rows add up)
    embed_dim: int = 64  # embedding width E (LSTM input size)
    hidden: int = 128  # LSTM hidden units H per direction
    max_len: int = 64  # tokenizer truncation L (stored so the model knows its tokenizer)
    pooling: str = "last"  # "last" | "meanmax" | "attention" (integer reference: last, meanmax)
    dropout: float = 0.1  # dropout on embeddings and on pooled features (training only)
    num_tags: int = 0  # BIO tags of the optional entity tagging head + CRF (0: no head)

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        for name in ("num_labels", "vocab_size", "embed_dim", "hidden", "max_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not 16 <= self.vocab_size <= 65535:
            raise ConfigError(f"vocab_size must be in 16..65535 (spec), got {self.vocab_size}")
        if not (isinstance(self.hashes, int) and 1 <= self.hashes <= MAX_HASHES):
            raise ConfigError(f"hashes must be an int in 1..{MAX_HASHES}, got {self.hashes!r}")
        if not (isinstance(self.buckets, int) and 0 <= self.buckets <= MAX_BUCKETS):
            raise ConfigError(f"buckets must be an int in 0..{MAX_BUCKETS}, got {self.buckets!r}")
        if not (isinstance(self.num_tags, int) and (self.num_tags == 0 or self.num_tags >= 2)):
            raise ConfigError(f"num_tags must be 0 (no tagger) or >= 2, got {self.num_tags!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def spec_v1(self) -> bool:
        """One table row per token and no importance weights: tokenizer spec v1's embedding."""
        return self.hashes == 1 and self.buckets == 0

    def tokenizer(self) -> Tokenizer:
        """The tokenizer whose hashes this student reads."""
        return Tokenizer(max_len=self.max_len)

    @property
    def pooled_dim(self) -> int:
        """Width of the pooled feature vector that feeds the head."""
        return 4 * self.hidden if self.pooling == "meanmax" else 2 * self.hidden


class StudentOutput(NamedTuple):
    logits: torch.Tensor  # [B, C]
    lstm_out: torch.Tensor  # [B, T, 2H], zero at padding positions and for empty rows
    pooled: torch.Tensor  # [B, 2H] or [B, 4H] (meanmax), zero for empty rows
    attn_weights: torch.Tensor | None  # [B, T] for "attention" pooling (zero at pads), else None
    emissions: torch.Tensor | None = None  # [B, T, num_tags] tag scores when the tagger exists


class TinyLSTM(nn.Module):
    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=0)
        if c.buckets:
            # Importance weights start at 1: every row of a token counts fully at first.
            self.importance = nn.Embedding(c.buckets, c.hashes)
            nn.init.ones_(self.importance.weight)
        self.lstm = nn.LSTM(
            c.embed_dim, c.hidden, num_layers=1, batch_first=True, bidirectional=True
        )
        self.dropout = nn.Dropout(c.dropout)
        if c.pooling == "attention":
            # Small init so the first attention weights are close to uniform over real tokens.
            self.attn_query = nn.Parameter(
                torch.randn(2 * c.hidden) * (1.0 / math.sqrt(2 * c.hidden))
            )
        self.head = nn.Linear(c.pooled_dim, c.num_labels)
        if c.num_tags:  # optional entity tagger: per-token emissions + a linear-chain CRF
            self.tagger = nn.Linear(2 * c.hidden, c.num_tags)
            self.crf = LinearChainCRF(c.num_tags)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits [B, C] for token hashes [B, T] (padding after each row's length) with real
        lengths [B]."""
        return self.features(ids, lengths).logits

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token hashes [B, T] -> embeddings [B, T, E]: the sum of each token's K table rows,
        weighed by its importance weights when the model has them."""
        c = self.config
        picked: torch.Tensor = self.embedding(rows(ids, c.vocab_size, c.hashes))  # [B, T, K, E]
        if c.buckets:
            weights = self.importance(buckets(ids, c.buckets))  # [B, T, K]
            picked = picked * weights.unsqueeze(-1)  # [B, T, K, E]
        return picked.sum(dim=2)  # [B, T, E]

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> StudentOutput:
        """Everything the distiller needs: logits, per-token BiLSTM states, pooled features."""
        assert ids.dim() == 2, f"ids must be [B, T], got shape {tuple(ids.shape)}"
        B, T = ids.shape
        assert lengths.shape == (B,), f"lengths must be [B]={B}, got shape {tuple(lengths.shape)}"
        lengths = lengths.to(device="cpu", dtype=torch.long)  # pack wants lengths on the CPU
        assert B >= 1, "empty batch"
        assert int(lengths.min()) >= 0, "lengths must be >= 0"
        assert int(lengths.max()) <= T, f"a length exceeds the padded width T={T}"
        H = self.config.hidden

        # Empty rows (T_i = 0): pack needs length >= 1, so such rows run one step over a zero
        # embedding and every output of theirs is zeroed below; the device skips the LSTM
        # entirely and pools zeros, which is what this reproduces.
        empty = lengths == 0  # [B]
        run_lengths = lengths.clamp(min=1)  # [B]
        width = max(T, 1)
        if T == 0:
            ids = ids.new_zeros((B, 1))  # [B, 1]: one padding column so every row can run
        mask = torch.arange(width, device=ids.device).unsqueeze(0) < lengths.to(
            ids.device
        ).unsqueeze(1)
        # mask: [B, W], True at real tokens (all False for empty rows)

        x = self.embed(ids) * mask.unsqueeze(-1).to(self.embedding.weight.dtype)  # [B, W, E]
        x = self.dropout(x)  # [B, W, E], zero at padding
        packed = pack_padded_sequence(x, run_lengths, batch_first=True, enforce_sorted=False)
        packed_out, (h_n, _) = self.lstm(packed)  # h_n: [2, B, H] in the input batch order
        lstm_out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=width)
        # lstm_out: [B, W, 2H], zeros after each row's (run) length
        keep = (~empty).to(lstm_out.dtype).to(ids.device)  # [B]
        lstm_out = lstm_out * keep.view(B, 1, 1)  # [B, W, 2H]: empty rows zeroed

        attn_weights: torch.Tensor | None = None
        pooling = self.config.pooling
        if pooling == "last":
            # Forward final state (at the last real token) ; backward final state (at position 0).
            pooled = torch.cat([h_n[0], h_n[1]], dim=-1)  # [B, 2H]
        elif pooling == "meanmax":
            denom = run_lengths.to(ids.device).to(lstm_out.dtype).unsqueeze(1)  # [B, 1]
            mean = lstm_out.sum(dim=1) / denom  # [B, 2H]
            neg_inf = torch.finfo(lstm_out.dtype).min
            maxed = lstm_out.masked_fill(~mask.unsqueeze(-1), neg_inf).amax(dim=1)  # [B, 2H]
            pooled = torch.cat([mean, maxed], dim=-1)  # [B, 4H]
        else:  # attention
            scores = lstm_out @ self.attn_query / math.sqrt(2 * H)  # [B, W]
            # Empty rows keep position 0 so their softmax is finite; they are zeroed below.
            run_mask = mask | (
                empty.to(ids.device).unsqueeze(1) & (torch.arange(width, device=ids.device) == 0)
            )
            scores = scores.masked_fill(~run_mask, float("-inf"))  # [B, W]
            attn_weights = F.softmax(scores, dim=-1) * keep.unsqueeze(1)  # [B, W]
            pooled = (attn_weights.unsqueeze(-1) * lstm_out).sum(dim=1)  # [B, 2H]
            attn_weights = attn_weights[:, :T]  # [B, T]
        pooled = pooled * keep.unsqueeze(1)  # [B, P]: empty rows pool zeros
        assert pooled.shape == (B, self.config.pooled_dim), f"pooled shape {tuple(pooled.shape)}"

        logits = self.head(self.dropout(pooled))  # [B, C]
        emissions = None
        if self.config.num_tags:
            emissions = self.tagger(self.dropout(lstm_out[:, :T]))  # [B, T, num_tags]
        return StudentOutput(logits, lstm_out[:, :T], pooled, attn_weights, emissions)


def save_student(model: TinyLSTM, labels: list[str], out_dir: str | Path) -> Path:
    """Write ``model.safetensors``, ``config.json`` and ``labels.json`` into ``out_dir``."""
    from safetensors.torch import save_file

    if len(labels) != model.config.num_labels:
        raise ConfigError(
            f"{len(labels)} label names for a model with num_labels={model.config.num_labels}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": "tinylstm", "version": "1"})
    (out / CONFIG_FILE).write_text(json.dumps(asdict(model.config), indent=2) + "\n")
    (out / LABELS_FILE).write_text(json.dumps(list(labels), ensure_ascii=False, indent=2) + "\n")
    return out


def load_student(model_dir: str | Path) -> tuple[TinyLSTM, list[str]]:
    """Load a student saved by :func:`save_student`; returns ``(model in eval mode, labels)``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    root = Path(model_dir)
    for name in (WEIGHTS_FILE, CONFIG_FILE, LABELS_FILE):
        if not (root / name).is_file():
            raise ModelsError(f"student directory {root} has no {name}")
    try:
        raw_config = json.loads((root / CONFIG_FILE).read_text())
        labels = json.loads((root / LABELS_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelsError(f"cannot read the student files in {root}: {exc}") from exc
    known = {f.name for f in fields(StudentConfig)}
    if not isinstance(raw_config, dict) or set(raw_config) - known:
        raise ModelsError(f"{root / CONFIG_FILE} is not a student config (fields: {sorted(known)})")
    if "hashes" not in raw_config:  # saved before the hash embedding: spec v1's one row
        raw_config = {**raw_config, "hashes": 1, "buckets": 0}
    try:
        config = StudentConfig(**raw_config)
    except TypeError as exc:
        raise ModelsError(f"{root / CONFIG_FILE}: {exc}") from exc
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ModelsError(f"{root / LABELS_FILE} must be a JSON list of label names")
    if len(labels) != config.num_labels:
        raise ModelsError(
            f"{root / LABELS_FILE} has {len(labels)} labels, config says {config.num_labels}"
        )
    model = TinyLSTM(config)
    try:
        state = load_file(str(root / WEIGHTS_FILE))
        model.load_state_dict(state, strict=True)
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise ModelsError(f"corrupt or mismatched weights in {root / WEIGHTS_FILE}: {exc}") from exc
    model.eval()
    return model, labels
