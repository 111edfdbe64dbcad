"""A separable toy corpus for student tests: each label has its own keywords plus shared noise."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

KEYWORDS = {
    "运输中": ["运输", "在途", "transit", "车辆", "发货"],
    "紧急": ["预警", "紧急", "urgent", "故障", "立即"],
    "已签收": ["签收", "送达", "delivered", "完成", "收到"],
}
NOISE = ["订单", "物流", "上海", "仓库", "通知", "order", "dh", "更新", "状态", "客户"]


@dataclass(frozen=True)
class ToyExample:
    text: str
    label: str


def make_toy_examples(n: int, seed: int = 0) -> list[ToyExample]:
    """``n`` examples over the three labels, round robin, texts of 3-8 tokens."""
    rng = random.Random(seed)
    labels = list(KEYWORDS)
    out = []
    for i in range(n):
        label = labels[i % len(labels)]
        words = [rng.choice(KEYWORDS[label]), *rng.choices(NOISE, k=rng.randint(2, 7))]
        rng.shuffle(words)
        number = str(rng.randint(10**3, 10**9))
        out.append(ToyExample(" ".join(words) + number, label))
    return out


def write_jsonl(path: Path, examples: list[ToyExample]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps({"text": ex.text, "label": ex.label}, ensure_ascii=False) + "\n")
    return path
