"""The CPU runtimes that ``benchmarks/student_vs_teacher.py`` times, each loaded the way it is
served and returning ``classify(texts)`` that does everything from raw text to probabilities:

- ``teacher``: the fine-tuned teacher in torch (``models.teacher.Teacher.predict_proba``);
- ``teacher-onnx``: the same encoder + mean pooling + head exported to ONNX fp32 and run by
  onnxruntime, with the teacher's own (fast, Rust) tokenizer: the fastest honest teacher;
- ``student``: the float student in torch (Python tokenizer, padding, forward, softmax);
- ``student-onnx-int8``: the float student exported to ONNX and quantised by onnxruntime's
  dynamic int8, with the Python tokenizer;
- ``student-c``: the integer engine the devices run, the host build of the firmware
  (``libtinylstm.so``, the library the edge agent loads) on the student's int8 blob: UTF-8 in,
  C tokenizer, integer BiLSTM, head, softmax of the winner; batch 1 is one ``tl_api_classify``
  call, a batch one ``tl_api_classify_batch`` call.

Every runtime uses ``threads`` intra-op threads where it has them; the C engine is single
threaded by construction.
"""

from __future__ import annotations

import ctypes
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

Classify = Callable[[list[str]], Any]


def teacher_torch(path: Path, threads: int, work: Path) -> tuple[Classify, dict[str, Any]]:
    from models.teacher import Teacher

    teacher = Teacher(path)
    teacher.eval()
    assert teacher.head is not None, f"{path} is not a fine-tuned teacher"
    files = [path / "encoder" / "model.safetensors", path / "head.safetensors"]
    info = {
        "parameters": sum(p.numel() for p in teacher.parameters()),
        "embedding_parameters": teacher.model.get_input_embeddings().weight.numel(),
        "safetensors_bytes": sum(f.stat().st_size for f in files),
    }

    def classify(batch: list[str]) -> Any:
        return teacher.predict_proba(batch, batch_size=len(batch))

    return classify, info


def teacher_onnx(path: Path, threads: int, work: Path) -> tuple[Classify, dict[str, Any]]:
    """Encoder + mean pooling over the mask + head + softmax as one fp32 ONNX graph."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from models.teacher import Teacher

    teacher = Teacher(path)
    teacher.eval()
    head = teacher.head
    assert head is not None, f"{path} is not a fine-tuned teacher"

    class Serving(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder: Any = teacher.model
            self.head: Any = head

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return torch.softmax(self.head(pooled), dim=-1)

    onnx_path = work / "teacher.onnx"
    example = teacher.tokenizer(["query: example"], return_tensors="pt")
    axes = {"ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}, "probs": {0: "batch"}}

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's tracer warnings
        torch.onnx.export(
            Serving(), (example["input_ids"], example["attention_mask"]), str(onnx_path),
            input_names=["ids", "mask"], output_names=["probs"], dynamic_axes=axes,
            opset_version=17, dynamo=False,
        )  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    tokenizer, prefix, max_length = teacher.tokenizer, teacher.text_prefix, teacher.max_length

    def classify(batch: list[str]) -> Any:
        enc = tokenizer([prefix + t for t in batch], padding=True, truncation=True,
                        max_length=max_length, return_tensors="np")  # fmt: skip
        feeds = {"ids": enc["input_ids"].astype(np.int64),
                 "mask": enc["attention_mask"].astype(np.int64)}  # fmt: skip
        return session.run(None, feeds)[0]

    return classify, {"onnx_bytes": onnx_path.stat().st_size}


def student_torch(path: Path, threads: int, work: Path) -> tuple[Classify, dict[str, Any]]:
    import torch

    from models.batching import pad_ids
    from models.student import WEIGHTS_FILE, load_student

    model, labels = load_student(path)
    tok = model.config.tokenizer()
    info: dict[str, Any] = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "embedding_parameters": model.embedding.weight.numel(),
        "fp32_safetensors_bytes": (path / WEIGHTS_FILE).stat().st_size,
    }
    if model.config.pooling == "last":
        info["int8_blob_bytes"] = len(_student_blob(model, labels))

    @torch.no_grad()
    def classify(batch: list[str]) -> Any:
        x, lengths = pad_ids([tok.encode(t) for t in batch])
        return torch.softmax(model(x, lengths), dim=-1)

    return classify, info


def student_onnx_int8(path: Path, threads: int, work: Path) -> tuple[Classify, dict[str, Any]]:
    import numpy as np

    from models.export import export_onnx, onnx_session, quantize_onnx, serving_inputs
    from models.student import load_student

    model, _ = load_student(path)
    int8 = quantize_onnx(export_onnx(model, work / "student.onnx"), work / "student-int8.onnx")
    session = onnx_session(int8, threads=threads)
    tok = model.config.tokenizer()

    def classify(batch: list[str]) -> Any:
        rows, buckets, lengths = serving_inputs(model.config, [tok.encode(t) for t in batch])
        feeds = {"rows": rows.numpy(), "buckets": buckets.numpy(), "lengths": lengths.numpy()}
        logits = session.run(None, feeds)[0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return classify, {"onnx_int8_bytes": int8.stat().st_size}


def _student_blob(model: Any, labels: list[str]) -> bytes:
    from models.blob import write_blob
    from models.quantize import quantize_student

    return write_blob(quantize_student(model, labels), 1)


def student_c(path: Path, threads: int, work: Path) -> tuple[Classify, dict[str, Any]]:
    """The int8 blob of the student in the host build of the device engine."""
    from edge_agent.clib import load_library
    from models.student import load_student

    model, labels = load_student(path)
    blob = _student_blob(model, labels)
    lib = load_library()
    lib.tl_api_engine_size.restype = ctypes.c_size_t
    blob_buf = ctypes.create_string_buffer(blob, len(blob))  # malloc-aligned
    engine = ctypes.create_string_buffer(lib.tl_api_engine_size())
    status = lib.tl_api_engine_init(engine, blob_buf, ctypes.c_size_t(len(blob)))
    assert status == 0, f"tl_api_engine_init: {status}"
    n_labels = len(labels)
    label, conf, n_ids = ctypes.c_uint32(), ctypes.c_float(), ctypes.c_uint32()
    logits = (ctypes.c_int32 * n_labels)()
    kernels = {0: "portable", 1: "avx2"}.get(lib.tl_api_kernels(), "other")

    def classify(batch: list[str]) -> Any:
        if len(batch) == 1:
            raw = batch[0].encode("utf-8")
            status = lib.tl_api_classify(
                engine, raw, len(raw), ctypes.byref(label), logits, n_labels,
                ctypes.byref(conf), None, 0, ctypes.byref(n_ids),
            )  # fmt: skip
            assert status == 0, f"tl_api_classify: {status}"
            return label.value
        raws = [t.encode("utf-8") for t in batch]
        offsets = (ctypes.c_uint32 * (len(raws) + 1))()
        for k, raw in enumerate(raws):
            offsets[k + 1] = offsets[k] + len(raw)
        joined = b"".join(raws)
        out_labels = (ctypes.c_uint32 * len(raws))()
        out_logits = (ctypes.c_int32 * (len(raws) * n_labels))()
        confidences = (ctypes.c_float * len(raws))()
        status = lib.tl_api_classify_batch(engine, joined, offsets, len(raws), out_labels,
                                           out_logits, n_labels, confidences)  # fmt: skip
        assert status == 0, f"tl_api_classify_batch: {status}"
        return list(out_labels)

    return classify, {"int8_blob_bytes": len(blob), "kernels": kernels, "threads_used": 1}


RUNTIMES: dict[str, Callable[[Path, int, Path], tuple[Classify, dict[str, Any]]]] = {
    "teacher": teacher_torch,
    "teacher-onnx": teacher_onnx,
    "student": student_torch,
    "student-onnx-int8": student_onnx_int8,
    "student-c": student_c,
}
