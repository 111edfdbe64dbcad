"""The integer student and the seed's memory optimisations, measured on the synthetic corpus.

One default-size TinyLSTM (V=2048, E=64, H=128, pooling "last") is trained on phase 0 of the
synthetic logistics corpus; then, on its test split:

- fp32 vs int8: float accuracy and size, the integer reference (docs/integer-lstm.md) accuracy,
  its argmax agreement with the float student and the model blob size; ONNX float/int8 and
  torch dynamic int8 for comparison;
- PTQ vs QAT: the converter alone vs ``qat_finetune`` through the integer simulation;
- iterative magnitude pruning with fine-tuning: accuracy, and the blob's raw and
  zlib-compressed sizes (the device format is dense, so only compression can gain);
- weight sharing: hashed-embedding row sharing (fewer rows, each shared by more tokens).

    python -m benchmarks.integer_student [--steps 400] [--threads 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/student_baselines.py

import argparse
import copy
import json
import random
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np


def load_synth():  # type: ignore[no-untyped-def]
    from models.data.synth import SynthConfig, generate_phase, to_examples

    splits = generate_phase(SynthConfig(seed=0, phases=1), phase=0)
    return tuple(to_examples(splits[s]) for s in ("train", "valid", "test"))


def encode(tokenizer, examples, index):  # type: ignore[no-untyped-def]
    import torch

    known = [ex for ex in examples if ex.label in index]
    ids = [tokenizer.encode(ex.text) for ex in known]
    return ids, torch.tensor([index[ex.label] for ex in known])


def train_steps(model, ids, y, steps: int, lr: float = 3e-3, seed: int = 0):  # type: ignore[no-untyped-def]
    """Plain AdamW on hard labels, random batches of 64 (the same budget for every variant)."""
    import torch
    import torch.nn.functional as F

    from models.batching import pad_ids

    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = [rng.randrange(len(ids)) for _ in range(64)]
        x, lengths = pad_ids([ids[k] for k in batch])
        loss = F.cross_entropy(model(x, lengths), y[batch])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval()


def float_logits(model, ids) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    from models.batching import pad_ids

    out = []
    with torch.no_grad():
        for start in range(0, len(ids), 256):
            x, lengths = pad_ids(ids[start : start + 256])
            out.append(model(x, lengths).numpy())
    return np.concatenate(out)


def acc(logits: np.ndarray, y) -> float:  # type: ignore[no-untyped-def]
    return round(float(np.mean(logits.argmax(1) == y.numpy())), 4)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(np.mean(a.argmax(1) == b.argmax(1))), 4)


def integer_report(model, labels, ids, y, float_out: np.ndarray) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from models.blob import write_blob
    from models.intlstm import integer_logits
    from models.quantize import quantize_student

    student = quantize_student(model, labels)
    logits = integer_logits(student, ids)
    blob = write_blob(student, model_version=1)
    return {
        "int8_accuracy": acc(logits, y),
        "float_accuracy": acc(float_out, y),
        "argmax_agreement_with_float": round(
            float(np.mean(logits.argmax(1) == float_out.argmax(1))), 4
        ),
        "accuracy_loss_points": round(100 * (acc(float_out, y) - acc(logits, y)), 2),
        "blob_bytes": len(blob),
        "blob_zlib_bytes": len(zlib.compress(blob, 9)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="training steps per variant")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from models import export
    from models.prune import iterative_prune
    from models.qat import qat_finetune
    from models.student import StudentConfig, TinyLSTM
    from models.tokenizer import Tokenizer

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    train, valid, test = load_synth()
    labels = sorted({ex.label for ex in train})
    index = {label: k for k, label in enumerate(labels)}
    tok = Tokenizer()
    train_ids, train_y = encode(tok, train, index)
    test_ids, test_y = encode(tok, test, index)
    result: dict[str, Any] = {
        "benchmark": "integer_student",
        "data": {"corpus": "synth seed 0 phase 0", "train": len(train_ids), "test": len(test_ids),
                 "labels": len(labels)},
        "steps_per_variant": args.steps,
    }  # fmt: skip

    # 1. The default student, fp32 vs int8 (PTQ) and the CPU serving formats.
    torch.manual_seed(0)
    base = train_steps(
        TinyLSTM(StudentConfig(num_labels=len(labels))), train_ids, train_y, args.steps
    )
    base_out = float_logits(base, test_ids)
    n_params = sum(p.numel() for p in base.parameters())
    ptq = integer_report(base, labels, test_ids, test_y, base_out)
    result["default_student"] = {"fp32_bytes": 4 * n_params, "parameters": n_params, **ptq}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export.export_onnx(base, Path(tmp) / "s.onnx")
        onnx8_path = export.quantize_onnx(onnx_path, Path(tmp) / "s8.onnx")
        outs = []
        for path in (onnx_path, onnx8_path):
            session = export.onnx_session(path)
            chunks = []
            for start in range(0, len(test_ids), 256):
                inputs = export.serving_inputs(base.config, test_ids[start : start + 256])
                feed = {n: t.numpy() for n, t in zip(export.INPUT_NAMES, inputs, strict=True)}
                chunks.append(session.run(None, feed)[0])
            outs.append(np.concatenate(chunks))
        with torch.no_grad():
            dynamic = export.torch_dynamic_int8(base)
            dyn = np.concatenate([
                dynamic(*export.serving_inputs(base.config, test_ids[s : s + 256])).numpy()
                for s in range(0, len(test_ids), 256)
            ])  # fmt: skip
        result["cpu_formats"] = {
            "onnx_fp32": {"bytes": onnx_path.stat().st_size, "accuracy": acc(outs[0], test_y)},
            "onnx_int8": {"bytes": onnx8_path.stat().st_size, "accuracy": acc(outs[1], test_y),
                          "argmax_agreement": agreement(outs[1], base_out)},
            "torch_dynamic_int8": {"accuracy": acc(dyn, test_y),
                                   "argmax_agreement": agreement(dyn, base_out)},
        }  # fmt: skip

    # 2. PTQ vs QAT (fine-tuning through the integer simulation).
    qat_model = copy.deepcopy(base)
    t0 = time.perf_counter()
    qat = qat_finetune(qat_model, train, valid, tok, labels=labels, steps=max(args.steps // 4, 20),
                       lr=3e-4, eval_every=max(args.steps // 8, 10))  # fmt: skip
    qat_report = integer_report(
        qat.model, labels, test_ids, test_y, float_logits(qat_model, test_ids)
    )
    # Control: the same number of plain float fine-tuning steps, then PTQ (separates QAT's
    # effect from the effect of simply training longer).
    control = train_steps(copy.deepcopy(base), train_ids, train_y, qat.steps, lr=3e-4, seed=1)
    control_report = integer_report(
        control, labels, test_ids, test_y, float_logits(control, test_ids)
    )
    result["ptq_vs_qat"] = {
        "float_accuracy": ptq["float_accuracy"],
        "ptq_int8_accuracy": ptq["int8_accuracy"],
        "ptq_loss_points": ptq["accuracy_loss_points"],
        "qat_int8_accuracy": qat_report["int8_accuracy"],
        "qat_loss_points_vs_base_float": round(
            100 * (ptq["float_accuracy"] - qat_report["int8_accuracy"]), 2
        ),
        "qat_model_float_accuracy": qat_report["float_accuracy"],
        "qat_argmax_agreement_with_its_float": qat_report["argmax_agreement_with_float"],
        "control_float_finetune_float_accuracy": control_report["float_accuracy"],
        "control_float_finetune_ptq_int8_accuracy": control_report["int8_accuracy"],
        "qat_steps": qat.steps,
        "qat_seconds": round(time.perf_counter() - t0, 1),
    }

    # 3. Iterative magnitude pruning with fine-tuning.
    pruning = []
    for target in (0.5, 0.8):
        pruned = iterative_prune(copy.deepcopy(base), train_ids, train_y, target=target, rounds=3,
                                 steps_per_round=max(args.steps // 6, 10), lr=1e-3)  # fmt: skip
        out = float_logits(pruned.model, test_ids)
        report = integer_report(pruned.model, labels, test_ids, test_y, out)
        pruning.append({"target": target, "sparsity": round(pruned.sparsity, 3), **report})
    result["pruning"] = {"dense_blob_zlib_bytes": ptq["blob_zlib_bytes"], "runs": pruning}

    # 4. Weight sharing: hashed embedding rows shared by more tokens (smaller V).
    sharing = []
    for vocab in (1024, 512):
        torch.manual_seed(0)  # token hashes do not depend on V: the same encoded data
        model = TinyLSTM(StudentConfig(num_labels=len(labels), vocab_size=vocab))
        model = train_steps(model, train_ids, train_y, args.steps)
        out = float_logits(model, test_ids)
        sharing.append(
            {"vocab_size": vocab, **integer_report(model, labels, test_ids, test_y, out)}
        )
    result["weight_sharing"] = {
        "why": "the seed's input/output embedding tying has no counterpart here: the head is "
        "C x 2H (about 2 KB), not a vocabulary projection; the embedding (V x E, 128 KiB of a "
        "~340 KiB blob) is the only large matrix, and hashed ids already share rows, so sharing "
        "is measured as fewer hash rows (same blob format, tokenizer V in the header)",
        "runs": [{"vocab_size": 2048, **{k: ptq[k] for k in ("int8_accuracy", "blob_bytes")}},
                 *sharing],
    }  # fmt: skip
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
