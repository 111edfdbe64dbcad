"""CPU serving formats of the float student: ONNX (+ onnxruntime dynamic int8), TorchScript,
torch dynamic int8, and the model blob as a C array for firmware builds.

``pack_padded_sequence`` does not export to ONNX cleanly, so every serving format is built from
:class:`ServingLSTM`, which computes exactly what ``TinyLSTM`` computes without packing: the
forward direction runs over the padded batch and is read at each row's last real token (an LSTM
output at step t depends only on steps 0..t, so padding after it is harmless); the backward
direction runs over each row's real tokens reversed in place (``t -> len-1-t``), and its outputs
are mapped back the same way. Both are plain unidirectional ``nn.LSTM`` layers, which ONNX
exports as its ``LSTM`` op with dynamic batch and sequence axes.

The hash embedding's index arithmetic (``docs/tokenizer.md`` section 7) is integer bit work that
ONNX has no clean ops for, so the serving formats take each token's table rows and importance
bucket, computed from the tokenizer's hashes by :func:`serving_inputs` (numpy, part of
tokenisation), and do the lookups and the weighed sum in the graph.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.embedding import buckets_np, rows_np
from models.errors import ConfigError, ModelsError
from models.student import StudentConfig, TinyLSTM

ONNX_OPSET = 17
INPUT_NAMES = ["rows", "buckets", "lengths"]
OUTPUT_NAMES = ["logits"]


class ExportError(ModelsError):
    """A serving format could not be produced (the message names the format and the cause)."""


def serving_inputs(
    config: StudentConfig, sequences: list[list[int]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token hash lists -> ``(rows [B, T, K], buckets [B, T], lengths [B])`` int64, padded."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    hashes = np.zeros((len(sequences), int(lengths.max(initial=0))), dtype=np.int64)  # [B, T]
    for b, seq in enumerate(sequences):
        hashes[b, : len(seq)] = seq
    rows = rows_np(hashes, config.vocab_size, config.hashes)  # [B, T, K]
    picked = buckets_np(hashes, config.buckets) if config.buckets else np.zeros_like(hashes)
    return torch.from_numpy(rows), torch.from_numpy(picked), torch.from_numpy(lengths)


class ServingLSTM(nn.Module):
    """``TinyLSTM``'s inference math (eval mode) without packing:
    ``(rows [B, T, K], buckets [B, T], lengths [B]) -> logits [B, C]``."""

    def __init__(self, student: TinyLSTM) -> None:
        super().__init__()
        c = student.config
        self.pooling = c.pooling
        self.hidden = c.hidden
        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=0)
        # Importance weights [P, K]; all ones (one bucket) when the student has none.
        weights = student.importance.weight.detach() if c.buckets else torch.ones(1, c.hashes)
        self.importance = nn.Embedding(weights.shape[0], c.hashes)
        self.importance.weight.data.copy_(weights)
        self.fwd = nn.LSTM(c.embed_dim, c.hidden, batch_first=True)
        self.bwd = nn.LSTM(c.embed_dim, c.hidden, batch_first=True)
        self.head = nn.Linear(c.pooled_dim, c.num_labels)
        self.embedding.load_state_dict(student.embedding.state_dict())
        self.head.load_state_dict(student.head.state_dict())
        src = student.lstm.state_dict()
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        self.fwd.load_state_dict({n: src[n] for n in names})
        self.bwd.load_state_dict({n: src[f"{n}_reverse"] for n in names})
        # "attention" pooling's learned query; a zero placeholder otherwise (scripting needs it).
        query = student.attn_query.detach() if c.pooling == "attention" else torch.zeros(1)
        self.register_buffer("attn_query", query.clone())
        self.eval()

    def forward(
        self, rows: torch.Tensor, buckets: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        B, T = rows.shape[0], rows.shape[1]
        H = self.hidden
        lengths = lengths.to(torch.long)
        pos = torch.arange(T, device=rows.device).unsqueeze(0)  # [1, T]
        valid = pos < lengths.unsqueeze(1)  # [B, T]
        rev = torch.where(valid, lengths.unsqueeze(1) - 1 - pos, pos)  # [B, T] in-place reversal
        weights = self.importance(buckets).unsqueeze(-1)  # [B, T, K, 1]
        x = (self.embedding(rows) * weights).sum(dim=2)  # [B, T, E]
        x_rev = torch.gather(x, 1, rev.unsqueeze(-1).expand(-1, -1, x.shape[2]))  # [B, T, E]
        # Explicit zero states sized from the input keep the batch axis dynamic in ONNX.
        h0 = x.new_zeros((1, B, H))  # [1, B, H]
        out_f, _ = self.fwd(x, (h0, h0))  # [B, T, H]
        out_r, _ = self.bwd(x_rev, (h0, h0))  # [B, T, H], step s holds position len-1-s
        keep = (lengths > 0).to(x.dtype)  # [B]: empty rows pool zeros
        if self.pooling == "last":
            last = (lengths - 1).clamp(min=0).view(B, 1, 1).expand(-1, 1, H)  # [B, 1, H]
            h_f = torch.gather(out_f, 1, last).squeeze(1)  # [B, H]
            h_b = torch.gather(out_r, 1, last).squeeze(1)  # [B, H]
            pooled = torch.cat([h_f, h_b], dim=-1)  # [B, 2H]
        else:
            back = torch.gather(out_r, 1, rev.unsqueeze(-1).expand(-1, -1, H))  # [B, T, H]
            mask = valid.unsqueeze(-1).to(x.dtype)  # [B, T, 1]
            seq = torch.cat([out_f, back], dim=-1) * mask  # [B, T, 2H], zero at padding
            if self.pooling == "meanmax":
                denom = lengths.clamp(min=1).to(x.dtype).unsqueeze(1)  # [B, 1]
                mean = seq.sum(dim=1) / denom  # [B, 2H]
                neg = torch.full_like(seq, -3.0e38)
                maxed = torch.where(mask > 0, seq, neg).amax(dim=1)  # [B, 2H]
                pooled = torch.cat([mean, maxed], dim=-1)  # [B, 4H]
            else:
                query = self.attn_query
                assert isinstance(
                    query, torch.Tensor
                )  # a registered buffer (typed Tensor | Module)
                scores = seq @ query / math.sqrt(2 * H)  # [B, T]
                first = (pos == 0).expand(B, -1)  # [B, T]
                run = valid | (first & (lengths == 0).unsqueeze(1))  # [B, T]
                scores = scores.masked_fill(~run, -1.0e30)
                weights = F.softmax(scores, dim=-1)  # [B, T]
                pooled = (weights.unsqueeze(-1) * seq).sum(dim=1)  # [B, 2H]
        pooled = pooled * keep.unsqueeze(1)  # [B, P]
        logits: torch.Tensor = self.head(pooled)  # [B, C]
        return logits


def _example_inputs(config: StudentConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return serving_inputs(config, [[5, 6, 7, 8], [9, 10]])


def export_onnx(student: TinyLSTM, path: str | Path) -> Path:
    """Float ONNX (opset 17) with dynamic ``batch`` and ``seq`` axes; int64 inputs ``rows``,
    ``buckets``, ``lengths`` (:func:`serving_inputs`)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ServingLSTM(student)
    axes = {"rows": {0: "batch", 1: "seq"}, "buckets": {0: "batch", 1: "seq"},
            "lengths": {0: "batch"}, "logits": {0: "batch"}}  # fmt: skip
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy exporter announces (and internally triggers) its own deprecation, traces
            # nn.LSTM's Python-side shape checks, and warns about batch sizes on every LSTM
            # (unconditionally; our zero states are sized from the input and the parity tests
            # run other batch sizes). It is chosen on purpose: silenced for this call only.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", "Exporting a model to ONNX with a batch_size")
            torch.onnx.export(
                wrapper,
                _example_inputs(student.config),
                str(out),
                input_names=INPUT_NAMES,
                output_names=OUTPUT_NAMES,
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                dynamo=False,  # the TorchScript-based exporter handles nn.LSTM as one LSTM op
            )
    except Exception as exc:  # torch raises many unrelated types here
        raise ExportError(f"onnx export failed: {exc}") from exc
    return out


def quantize_onnx(float_path: str | Path, int8_path: str | Path) -> Path:
    """onnxruntime dynamic int8 (weights int8, activations quantised on the fly), after
    onnxruntime's recommended pre-processing (shape inference and graph optimisation)."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(int8_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prepared = Path(tmp) / "prepared.onnx"
            quant_pre_process(str(float_path), str(prepared))
            quantize_dynamic(str(prepared), str(out), weight_type=QuantType.QInt8)
    except Exception as exc:  # onnxruntime raises plain Exception subclasses of many kinds
        raise ExportError(f"onnxruntime int8 quantisation failed: {exc}") from exc
    return out


def onnx_session(path: str | Path, threads: int = 1) -> Any:
    """A CPU onnxruntime session for an exported model (``threads`` intra-op threads)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"cannot load {path} in onnxruntime: {exc}") from exc


def export_torchscript(student: TinyLSTM, path: str | Path) -> Path:
    """TorchScript (scripted, so any batch and sequence length works) of the serving module."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated upstream but is the format asked for; quiet for this call.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.script(ServingLSTM(student)).save(str(out))
    except Exception as exc:
        raise ExportError(f"torchscript export failed: {exc}") from exc
    return out


def load_torchscript(path: str | Path) -> torch.jit.ScriptModule:
    """Load a file written by :func:`export_torchscript` (CPU)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            module: torch.jit.ScriptModule = torch.jit.load(str(path), map_location="cpu")
            return module
    except Exception as exc:
        raise ExportError(f"cannot load TorchScript {path}: {exc}") from exc


def torch_dynamic_int8(student: TinyLSTM) -> nn.Module:
    """PyTorch dynamic int8 of the serving module: ``nn.LSTM`` and ``nn.Linear`` weights int8."""
    with warnings.catch_warnings():
        # Deprecated upstream in favour of torchao (not a dependency); it still works here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", "torch.quantize_per_tensor", UserWarning)
        quantized: nn.Module = torch.ao.quantization.quantize_dynamic(
            ServingLSTM(student), {nn.LSTM, nn.Linear}, dtype=torch.qint8
        )
        return quantized


def render_c_header(blob: bytes, name: str = "tinylstm_model") -> str:
    """The blob as ``const uint8_t <name>[] __attribute__((aligned(4)))`` plus its length."""
    if not name.isidentifier() or not name.isascii():
        raise ConfigError(f"C array name must be an ASCII identifier, got {name!r}")
    guard = f"{name.upper()}_H"
    rows = []
    for start in range(0, len(blob), 16):
        rows.append("    " + ", ".join(f"0x{b:02x}" for b in blob[start : start + 16]) + ",")
    return (
        "/* GENERATED by `fleet export --format c-header`: a model blob (docs/model-blob.md). */\n"
        f"#ifndef {guard}\n#define {guard}\n\n#include <stdint.h>\n\n"
        f"#define {name.upper()}_LEN {len(blob)}u\n"
        f"const uint8_t {name}[] __attribute__((aligned(4))) = {{\n"
        + "\n".join(rows)
        + f"\n}};\nconst uint32_t {name}_len = {len(blob)}u;\n\n#endif /* {guard} */\n"
    )
