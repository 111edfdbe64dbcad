"""Golden vectors for the C integer engine: ``model.blob`` + ``cases.jsonl`` in one directory.

A default-size student (V=2048, E=64, H=128, 8 labels) is trained for a few seconds on a seeded
keyword corpus of logistics messages, converted, and written as a blob; every case is a message
(as hex bytes, so invalid UTF-8 can be included), its token ids, the reference's int32 logits
and the predicted label. The C tests tokenize the bytes, run the blob and compare all three.

    python -m benchmarks.golden.intlstm tests/golden/intlstm
    python -m benchmarks.golden.intlstm tests/golden/intlstm_v2 --hashes 2 --buckets 4096 \
        --pooling meanmax                      # spec v2: hash embedding, mean+max pooling
    python -m benchmarks.golden.intlstm tests/golden/intlstm_v2_last --cases 400 --hashes 2 \
        --buckets 4096 --pooling last          # the default student: hash embedding, last pooling
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from models.intlstm import GENERATOR_VERSION, INTEGER_POOLINGS, SPEC_VERSION, integer_logits

GOLDEN_GENERATOR = "benchmarks.golden.intlstm"

# An 8-label keyword corpus: each label owns a few keywords, all share the noise words.
LABEL_WORDS: dict[str, list[str]] = {
    "运输中": ["运输", "在途", "transit", "车辆", "发货"],
    "紧急": ["预警", "紧急", "urgent", "故障", "立即"],
    "已签收": ["签收", "送达", "delivered", "收到", "妥投"],
    "退货": ["退货", "退回", "return", "拒收", "退款"],
    "延误": ["延误", "延迟", "delay", "滞留", "晚点"],
    "揽收": ["揽收", "取件", "pickup", "上门", "收件"],
    "清关": ["清关", "海关", "customs", "报关", "关税"],
    "理赔": ["理赔", "赔偿", "claim", "破损", "丢失"],
}
NOISE = [
    *["订单", "物流", "上海", "仓库", "通知", "order", "dh", "更新", "状态", "客户"],
    *["北京", "包裹", "广州", "深圳", "快递", "sf", "单号", "，", "！", "。", "ＤＨ", "📦"],
]
LABELS: list[str] = sorted(LABEL_WORDS)


def keyword_messages(n: int, seed: int, confusion: float = 0.0) -> list[tuple[str, str]]:
    """``n`` ``(text, label)`` pairs, labels round robin; with probability ``confusion`` a
    message also carries a keyword of another label (so the task is not trivially separable)."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        label = LABELS[k % len(LABELS)]
        words = rng.choices(LABEL_WORDS[label], k=rng.randint(1, 2))
        if rng.random() < confusion:
            words.append(rng.choice(LABEL_WORDS[rng.choice(LABELS)]))
        words += rng.choices(NOISE, k=rng.randint(1, 12))
        rng.shuffle(words)
        sep = rng.choice(["", " ", "  "])
        out.append((sep.join(words) + str(rng.randint(0, 10**9)), label))
    return out


def edge_messages(rng: random.Random) -> list[bytes]:
    """Inputs that exercise truncation, empty messages, invalid UTF-8 and odd code points."""
    words = [w for ws in LABEL_WORDS.values() for w in ws] + NOISE
    out = [b"", b" ", b"\t\r\n", "　".encode(), b"\xff\xfe\x80", b"\xe4\xb8", b"a"]
    out += ["物流订单号DH20231125状态更新".encode(), "上海仓库存预警通知".encode()]
    for _ in range(40):  # long messages: truncated at max_len
        out.append(" ".join(rng.choices(words, k=rng.randint(60, 120))).encode())
    for _ in range(40):  # random bytes, mostly invalid UTF-8
        out.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 80))))
    for _ in range(20):  # one repeated token: deep saturation of the recurrence
        out.append((rng.choice(words) + " ").encode() * rng.randint(10, 64))
    return out


def train_golden_student(
    seed: int = 0, steps: int = 200, hashes: int = 1, buckets: int = 0, pooling: str = "last"
) -> Any:
    """A default-size trained TinyLSTM over :data:`LABELS` (a few seconds on one core); spec
    v1's embedding (one row per token) unless ``hashes``/``buckets`` say otherwise."""
    import torch
    import torch.nn.functional as F

    from models.batching import pad_ids
    from models.student import StudentConfig, TinyLSTM
    from models.tokenizer import Tokenizer

    torch.manual_seed(seed)
    tok = Tokenizer(max_len=64)
    data = keyword_messages(3000, seed=seed + 1, confusion=0.1)
    ids = [tok.encode(t) for t, _ in data]
    y = torch.tensor([LABELS.index(label) for _, label in data])  # [N]
    config = StudentConfig(num_labels=len(LABELS), dropout=0.1, hashes=hashes, buckets=buckets,
                           pooling=pooling)  # fmt: skip
    model = TinyLSTM(config)
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


def write_golden(
    out_dir: Path,
    cases: int = 1200,
    seed: int = 0,
    hashes: int = 1,
    buckets: int = 0,
    pooling: str = "last",
) -> None:
    """Train, convert and write ``model.blob`` and ``cases.jsonl`` (header line first); a
    student with ``hashes``/``buckets``/``pooling`` other than the defaults gives a spec v2
    (tokenizer version 2 and/or mean+max pooling) pack."""
    import torch

    from models.blob import FORMAT_VERSION, write_blob
    from models.quantize import quantize_student
    from models.tokenizer import SPEC_VERSION as TOKENIZER_SPEC
    from models.tokenizer import v1_ids

    torch.set_num_threads(1)
    model = train_golden_student(seed, hashes=hashes, buckets=buckets, pooling=pooling)
    student = quantize_student(model, LABELS)
    tok = student.tokenizer()
    rng = random.Random(seed + 7)
    texts = edge_messages(rng)
    texts += [t.encode() for t, _ in keyword_messages(max(cases - len(texts), 0), seed + 2, 0.2)]
    keys = [tok.encode(t) for t in texts]  # the tokens' key hashes
    ids = [v1_ids(h, student.vocab_size) for h in keys]
    logits = integer_logits(student, keys)
    out_dir.mkdir(parents=True, exist_ok=True)
    blob = write_blob(student, model_version=1,
                      selftest=ids[7:11] if student.spec_v1 else keys[7:11])  # fmt: skip
    (out_dir / "model.blob").write_bytes(blob)
    header = {
        "generator": GOLDEN_GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "created_by": f"python -m benchmarks.golden.intlstm {out_dir} --hashes {student.hashes} "
        f"--buckets {student.buckets} --pooling {pooling}",
        "integer_lstm_spec_version": SPEC_VERSION,
        "model_blob_format_version": FORMAT_VERSION,
        "tokenizer_spec_version": TOKENIZER_SPEC,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "blob": "model.blob",
        "blob_bytes": len(blob),
        "vocab_size": student.vocab_size,
        "max_len": student.max_len,
        "hashes": student.hashes,
        "buckets": student.buckets,
        "pooling": pooling,
        "labels": list(student.labels),
        "count": len(texts),
        "fields": {"hex": "input bytes", "hashes": "token key hashes",
                   "ids": "spec v1 token ids (table rows)", "logits": "int32 Q.10",
                   "label": "argmax, lowest index on a tie"},
    }  # fmt: skip
    with (out_dir / "cases.jsonl").open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(header, ensure_ascii=False) + "\n")
        for text, hs, seq, row in zip(texts, keys, ids, logits, strict=True):
            case = {
                "hex": text.hex(),
                "hashes": hs,
                "ids": seq,
                "logits": [int(v) for v in row],
                "label": int(np.argmax(row)),
            }
            fh.write(json.dumps(case) + "\n")
    print(f"wrote {out_dir / 'model.blob'} ({len(blob)} bytes) and {len(texts)} cases")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.golden.intlstm", description=__doc__
    )
    parser.add_argument("out_dir", type=Path, help="where model.blob and cases.jsonl go")
    parser.add_argument("--cases", type=int, default=1200, help="golden cases to write")
    parser.add_argument("--hashes", type=int, default=1, help="golden student's K")
    parser.add_argument("--buckets", type=int, default=0, help="golden student's P")
    parser.add_argument("--pooling", choices=INTEGER_POOLINGS, default="last")
    args = parser.parse_args(argv)
    write_golden(args.out_dir, cases=args.cases, hashes=args.hashes,
                 buckets=args.buckets, pooling=args.pooling)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
