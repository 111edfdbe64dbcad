"""Factories for the integer-student tests: an 8-label separable corpus and a small trained
default-size TinyLSTM (cached per process, a few seconds of CPU training)."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.batching import pad_ids
from models.student import StudentConfig, TinyLSTM
from models.tokenizer import Tokenizer

LABEL_WORDS = {
    "运输中": ["运输", "在途", "transit", "车辆"],
    "紧急": ["预警", "紧急", "urgent", "故障"],
    "已签收": ["签收", "送达", "delivered", "收到"],
    "退货": ["退货", "退回", "return", "拒收"],
    "延误": ["延误", "延迟", "delay", "滞留"],
    "揽收": ["揽收", "取件", "pickup", "上门"],
    "清关": ["清关", "海关", "customs", "报关"],
    "理赔": ["理赔", "赔偿", "claim", "破损"],
}
NOISE = [
    "订单",
    "物流",
    "上海",
    "仓库",
    "通知",
    "order",
    "dh",
    "更新",
    "状态",
    "客户",
    "北京",
    "包裹",
]
LABELS = sorted(LABEL_WORDS)


@dataclass(frozen=True)
class Sample:
    text: str
    label: str


def make_samples(n: int, seed: int) -> list[Sample]:
    """``n`` messages, labels round robin: one or two label keywords among 2-10 noise tokens."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        label = LABELS[k % len(LABELS)]
        words = rng.choices(LABEL_WORDS[label], k=rng.randint(1, 2))
        words += rng.choices(NOISE, k=rng.randint(2, 10))
        rng.shuffle(words)
        out.append(Sample(" ".join(words) + str(rng.randint(10, 10**8)), label))
    return out


def encode(samples: list[Sample]) -> tuple[list[list[int]], torch.Tensor]:
    tok = Tokenizer(vocab_size=2048, max_len=64)
    ids = [tok.encode(s.text) for s in samples]
    y = torch.tensor([LABELS.index(s.label) for s in samples], dtype=torch.long)  # [N]
    return ids, y


def train_student(samples: list[Sample], steps: int, seed: int = 0) -> TinyLSTM:
    """Default-size TinyLSTM (V=2048, E=64, H=128, pooling "last") trained with AdamW."""
    torch.manual_seed(seed)
    model = TinyLSTM(StudentConfig(num_labels=len(LABELS), dropout=0.0))
    ids, y = encode(samples)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(ids), (64,), generator=gen).tolist()
        x, lengths = pad_ids([ids[i] for i in batch])
        loss = F.cross_entropy(model(x, lengths), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@functools.lru_cache(maxsize=1)
def trained_student() -> tuple[TinyLSTM, list[Sample]]:
    """A trained student and its held-out evaluation samples (shared by the test modules)."""
    torch.set_num_threads(1)
    model = train_student(make_samples(2000, seed=1), steps=150)
    return model, make_samples(600, seed=2)


def float_logits(model: TinyLSTM, sequences: list[list[int]]) -> torch.Tensor:
    x, lengths = pad_ids(sequences)
    with torch.no_grad():
        return model(x, lengths)  # [N, C]
