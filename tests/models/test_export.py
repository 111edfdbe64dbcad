"""CPU serving formats: the unpacked serving module equals TinyLSTM, float ONNX and TorchScript
match torch, every int8 variant agrees with the float argmax, and ``fleet export`` writes each
format from a student directory."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from models import export
from models.batching import pad_ids
from models.blob import read_blob
from models.cli.export import FORMATS, register
from models.errors import ConfigError
from models.intlstm import integer_logits
from models.quantize import quantize_student
from models.student import StudentConfig, TinyLSTM, save_student
from tests.models.int_student import LABELS, encode, float_logits, trained_student


def random_hashes(n: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, 2**32, size=int(k)).tolist() for k in rng.integers(0, 30, size=n)]
    seqs[0] = []  # an empty message
    return seqs


@pytest.mark.parametrize("pooling", ["last", "meanmax", "attention"])
@pytest.mark.parametrize(("hashes", "buckets"), [(1, 0), (2, 0), (2, 64), (3, 64)])
def test_serving_module_equals_the_packed_student(pooling: str, hashes: int, buckets: int) -> None:
    torch.manual_seed(1)
    config = StudentConfig(num_labels=4, pooling=pooling, vocab_size=300, hashes=hashes,
                           buckets=buckets)  # fmt: skip
    model = TinyLSTM(config).eval()
    if buckets:
        with torch.no_grad():
            model.importance.weight.uniform_(-1.5, 1.5)
    seqs = random_hashes(17, seed=2)
    ids, lengths = pad_ids(seqs)
    with torch.no_grad():
        expected = model(ids, lengths)
        got = export.ServingLSTM(model)(*export.serving_inputs(config, seqs))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def trained_eval() -> tuple[TinyLSTM, list[list[int]], np.ndarray]:
    model, samples = trained_student(hash_embedding=True)
    ids, _ = encode(samples)
    return model, ids, float_logits(model, ids).numpy()


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))


def test_onnx_float_and_int8_match_the_float_student(tmp_path: Path, trained_eval) -> None:  # type: ignore[no-untyped-def]
    model, ids, expected = trained_eval
    inputs = export.serving_inputs(model.config, ids)
    feed = {name: t.numpy() for name, t in zip(export.INPUT_NAMES, inputs, strict=True)}
    float_path = export.export_onnx(model, tmp_path / "student.onnx")
    got = export.onnx_session(float_path).run(None, feed)[0]
    assert got.shape == expected.shape  # dynamic batch and sequence axes
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    int8_path = export.quantize_onnx(float_path, tmp_path / "student.int8.onnx")
    assert int8_path.stat().st_size < float_path.stat().st_size / 2
    got8 = export.onnx_session(int8_path).run(None, feed)[0]
    assert _agreement(got8, expected) >= 0.99


def test_torchscript_and_torch_int8(tmp_path: Path, trained_eval) -> None:  # type: ignore[no-untyped-def]
    model, ids, expected = trained_eval
    inputs = export.serving_inputs(model.config, ids)
    scripted = export.load_torchscript(export.export_torchscript(model, tmp_path / "s.pt"))
    with torch.no_grad():
        np.testing.assert_allclose(scripted(*inputs).numpy(), expected, atol=1e-5, rtol=1e-5)
        dynamic = export.torch_dynamic_int8(model)(*inputs).numpy()
    assert _agreement(dynamic, expected) >= 0.99


def test_integer_reference_agrees_with_the_float_argmax(trained_eval) -> None:  # type: ignore[no-untyped-def]
    model, ids, expected = trained_eval
    logits = integer_logits(quantize_student(model, LABELS), ids)
    assert _agreement(logits, expected) >= 0.99


def test_c_header_holds_the_blob_bytes() -> None:
    blob = bytes(range(256)) * 3 + b"\x01\x02"
    text = export.render_c_header(blob, "slot_a")
    assert "const uint8_t slot_a[] __attribute__((aligned(4))) = {" in text
    assert f"const uint32_t slot_a_len = {len(blob)}u;" in text
    body = text.split("= {", 1)[1].split("};", 1)[0]
    assert bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", body)) == blob
    with pytest.raises(ConfigError):
        export.render_c_header(blob, "not a name")


def test_fleet_export_writes_every_format(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyLSTM(StudentConfig(num_labels=3, vocab_size=64)).eval()
    model_dir = save_student(model, ["a", "b", "c"], tmp_path / "student")
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps "export" a named subcommand
    runner = CliRunner()
    outputs = {}
    for fmt in FORMATS:
        out = tmp_path / f"out.{fmt}"
        args = ["export", "--format", fmt, "--model", str(model_dir), "--out", str(out)]
        result = runner.invoke(app, [*args, "--version", "4"])
        assert result.exit_code == 0, result.output
        outputs[fmt] = out
    parsed = read_blob(outputs["blob"].read_bytes())
    assert parsed.model_version == 4 and parsed.model.labels == ("a", "b", "c")
    assert "tinylstm_model_len" in outputs["c-header"].read_text()
    assert outputs["onnx-int8"].stat().st_size < outputs["onnx"].stat().st_size
    bad = runner.invoke(app, ["export", "--format", "tflite", "--model", str(model_dir),
                              "--out", str(tmp_path / "x")])  # fmt: skip
    assert bad.exit_code == 1 and "blob, onnx" in bad.output


def test_export_is_registered_with_the_fleet_cli() -> None:
    from services.cli import COMMAND_MODULES

    assert "models.cli.export" in COMMAND_MODULES
