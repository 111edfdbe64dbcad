"""Quantisation-aware training that simulates THIS integer scheme (``docs/integer-lstm.md``).

Not a generic observer: :class:`FakeQuantStudent` runs a TinyLSTM's weights (a pooling the
integer engine implements) through the device's arithmetic in float with straight-through
estimators (STE):

- int8 symmetric per-row weights (``Wx``, ``Wh``, head) and a per-tensor embedding scale;
- the hash embedding's sum of weighed rows rounded to int8 at the converter's bound scale
  ``s_x`` (``models.quantize.embedding_input``), the importance weights int8 per tensor;
- gate pre-activations rounded to Q3.12 (input and recurrent parts separately, as the two
  ``requant`` calls do) and saturated to [-8, 8);
- gate outputs and ``tanh(c)`` rounded to Q0.15 (the LUTs' resolution), the cell state to Q3.12
  and saturated, the hidden state rounded to Q0.7 and saturated to [-1, 127/128];
- mean+max pooling: the mean of the states rounded to Q0.7, the max of the rounded states.

Rounding is round-half-even here (torch) where the device rounds half up; the difference is a
tie at one LSB and does not matter for training. The wrapped student's own parameters are
trained, so after :func:`qat_finetune` the converter (``models.quantize``) turns it into an
integer model as usual.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.batching import Encoder, pad_ids
from models.embedding import buckets, rows
from models.errors import ConfigError, DataError
from models.evaluate import LabeledText
from models.intlstm import INTEGER_POOLINGS
from models.student import TinyLSTM


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return x + (torch.round(x) - x).detach()


def fake_fixed(x: torch.Tensor, frac_bits: int, lo: int, hi: int) -> torch.Tensor:
    """``x`` rounded to ``frac_bits`` fractional bits and saturated to integer codes [lo, hi]."""
    scale = float(1 << frac_bits)
    return torch.clamp(ste_round(x * scale), lo, hi) / scale


def fake_rows(w: torch.Tensor) -> torch.Tensor:
    """Symmetric int8 per output row: ``clamp(round(w / s), -127, 127) * s``."""
    s = w.detach().abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0  # [rows, 1]
    return torch.clamp(ste_round(w / s), -127, 127) * s


def fake_tensor(w: torch.Tensor) -> torch.Tensor:
    """Symmetric int8 per tensor (the embedding)."""
    s = w.detach().abs().max().clamp(min=1e-8) / 127.0
    return torch.clamp(ste_round(w / s), -127, 127) * s


def q_pre(x: torch.Tensor) -> torch.Tensor:
    return fake_fixed(x, 12, -32768, 32767)  # Q3.12, int16


def q_gate(x: torch.Tensor) -> torch.Tensor:
    return fake_fixed(x, 15, -32768, 32767)  # Q0.15, int16


def q_hidden(x: torch.Tensor) -> torch.Tensor:
    return fake_fixed(x, 7, -128, 127)  # Q0.7, int8


class FakeQuantStudent(nn.Module):
    """``(ids [B, T], lengths [B]) -> logits [B, C]`` of ``student`` under the integer scheme."""

    def __init__(self, student: TinyLSTM) -> None:
        super().__init__()
        if student.config.pooling not in INTEGER_POOLINGS:
            raise ConfigError(
                "QAT simulates the integer engine, which has pooling "
                f"{', '.join(INTEGER_POOLINGS)}; got {student.config.pooling!r}"
            )
        self.student = student

    def _direction(
        self, x: torch.Tensor, lengths: torch.Tensor, suffix: str, reverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Final state, and the mean and max of the states over the real steps ([B, H] each;
        the mean rounded to Q0.7 as the engine rounds it; zeros for empty rows)."""
        lstm = self.student.lstm
        wx = fake_rows(getattr(lstm, f"weight_ih_l0{suffix}"))  # [4H, E]
        wh = fake_rows(getattr(lstm, f"weight_hh_l0{suffix}"))  # [4H, H]
        bias = getattr(lstm, f"bias_ih_l0{suffix}") + getattr(lstm, f"bias_hh_l0{suffix}")
        B, T, _ = x.shape
        H = wh.shape[1]
        xz = q_pre(x @ wx.T + bias)  # [B, T, 4H]: requant(ax) per step, precomputed
        h = x.new_zeros((B, H))
        c = x.new_zeros((B, H))
        h_sum = x.new_zeros((B, H))
        h_max = x.new_full((B, H), -1.0)  # Q0.7's lowest value
        steps = range(T - 1, -1, -1) if reverse else range(T)
        for t in steps:
            active = (t < lengths).unsqueeze(1)  # [B, 1]
            z = torch.clamp(xz[:, t] + q_pre(h @ wh.T), -8.0, 32767 / 4096)  # [B, 4H] Q3.12
            i = q_gate(torch.sigmoid(z[:, :H]))
            f = q_gate(torch.sigmoid(z[:, H : 2 * H]))
            g = q_gate(torch.tanh(z[:, 2 * H : 3 * H]))
            o = q_gate(torch.sigmoid(z[:, 3 * H :]))
            c_new = q_pre(f * c + i * g)  # Q3.12, saturated
            h_new = q_hidden(o * q_gate(torch.tanh(c_new)))  # Q0.7
            c = torch.where(active, c_new, c)
            h = torch.where(active, h_new, h)
            h_sum = torch.where(active, h_sum + h_new, h_sum)
            h_max = torch.where(active, torch.maximum(h_max, h_new), h_max)
        count = lengths.clamp(min=1).unsqueeze(1).to(x.dtype)  # [B, 1]
        some = (lengths > 0).unsqueeze(1)  # [B, 1]
        mean = q_hidden(h_sum / count) * some  # [B, H]
        return h, mean, h_max * some

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token hashes [B, T] -> int8-valued inputs [B, T, E] in float (spec section 4a)."""
        s, c = self.student, self.student.config
        table = fake_tensor(s.embedding.weight)  # [V, E]
        picked = F.embedding(rows(ids, c.vocab_size, c.hashes), table)  # [B, T, K, E]
        if c.spec_v1:
            return picked[:, :, 0]  # [B, T, E]: the row itself
        peak = s.embedding.weight.detach().abs().max()
        if c.buckets:
            w = fake_tensor(s.importance.weight)  # [P, K]
            picked = picked * F.embedding(buckets(ids, c.buckets), w).unsqueeze(-1)
            reach = w.detach().abs().sum(dim=1).max()
        else:
            reach = torch.tensor(float(c.hashes))
        s_x = (reach * peak).clamp(min=1e-8) / 127.0
        x = picked.sum(dim=2)  # [B, T, E]
        return torch.clamp(ste_round(x / s_x), -127, 127) * s_x

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        s = self.student
        lengths = lengths.to(ids.device)
        x = self.embed(ids)  # [B, T, E]
        x = s.dropout(x)
        h_f, mean_f, max_f = self._direction(x, lengths, "", reverse=False)
        h_b, mean_b, max_b = self._direction(x, lengths, "_reverse", reverse=True)
        if s.config.pooling == "meanmax":
            pooled = torch.cat([mean_f, mean_b, max_f, max_b], dim=-1)  # [B, 4H]
        else:
            pooled = torch.cat([h_f, h_b], dim=-1)  # [B, 2H], zero for empty rows
        return F.linear(s.dropout(pooled), fake_rows(s.head.weight), s.head.bias)  # [B, C]


@dataclass
class QATResult:
    model: TinyLSTM  # the fine-tuned float student (eval mode), ready for the converter
    steps: int  # optimizer steps taken
    valid_accuracy: float  # accuracy of the fake-quantised model on the validation set
    history: list[float]  # validation accuracy after each evaluation


@torch.no_grad()
def fake_quant_accuracy(
    fq: FakeQuantStudent, ids: Sequence[Sequence[int]], y: torch.Tensor, batch_size: int = 256
) -> float:
    was = fq.training
    fq.eval()
    correct = 0
    for start in range(0, len(ids), batch_size):
        x, lengths = pad_ids(ids[start : start + batch_size])
        correct += int((fq(x, lengths).argmax(1) == y[start : start + batch_size]).sum())
    fq.train(was)
    return correct / max(len(ids), 1)


def qat_finetune(
    model: TinyLSTM,
    train_examples: Sequence[LabeledText],
    valid_examples: Sequence[LabeledText],
    tokenizer: Encoder,
    *,
    labels: Sequence[str],
    steps: int = 200,
    lr: float = 3e-4,
    batch_size: int = 64,
    eval_every: int = 50,
    seed: int = 0,
) -> QATResult:
    """Fine-tune ``model`` in place through the integer-scheme simulation (hard labels).

    Keeps the weights with the best fake-quant validation accuracy (checked every
    ``eval_every`` steps and at the start). ``labels`` is the model's output order.
    """
    index = {name: k for k, name in enumerate(labels)}
    if len(index) != model.config.num_labels:
        raise ConfigError(f"{len(index)} labels for a model with {model.config.num_labels}")
    train = [ex for ex in train_examples if ex.label in index]
    valid = [ex for ex in valid_examples if ex.label in index]
    if not train or not valid:
        raise DataError("QAT needs training and validation examples with known labels")
    train_ids = [tokenizer.encode(ex.text) for ex in train]
    train_y = torch.tensor([index[ex.label] for ex in train])  # [N]
    valid_ids = [tokenizer.encode(ex.text) for ex in valid]
    valid_y = torch.tensor([index[ex.label] for ex in valid])  # [M]

    # 1. Wrap, and score the starting point (the PTQ model's simulation).
    fq = FakeQuantStudent(model)
    best = fake_quant_accuracy(fq, valid_ids, valid_y)
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    history = [best]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    rng = random.Random(seed)
    torch.manual_seed(seed)

    # 2. Train through the simulation; evaluate periodically and keep the best weights.
    fq.train()
    for step in range(1, steps + 1):
        batch = [rng.randrange(len(train_ids)) for _ in range(batch_size)]
        x, lengths = pad_ids([train_ids[k] for k in batch])
        loss = F.cross_entropy(fq(x, lengths), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % eval_every == 0 or step == steps:
            acc = fake_quant_accuracy(fq, valid_ids, valid_y)
            history.append(acc)
            if acc > best:
                best = acc
                best_state = {k: v.clone() for k, v in model.state_dict().items()}

    # 3. Restore the best weights.
    model.load_state_dict(best_state)
    model.eval()
    return QATResult(model, steps, best, history)
