"""``fleet distill`` end to end on a toy corpus with a tiny random BERT teacher (seconds)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from models.cli.distill import parse_stages
from models.errors import ConfigError
from models.student import load_student
from services.cli import build_app
from tests.models.tiny_teacher import make_tiny_teacher
from tests.models.toy_data import KEYWORDS, make_toy_examples, write_jsonl


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def distill_setup_factory(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """(teacher folder, data directory with train/valid/test.jsonl)."""

    def make() -> tuple[Path, Path]:
        teacher = make_tiny_teacher(tmp_path / "teacher", list(KEYWORDS))
        data = tmp_path / "data"
        write_jsonl(data / "train.jsonl", make_toy_examples(48, seed=1))
        write_jsonl(data / "valid.jsonl", make_toy_examples(24, seed=2))
        write_jsonl(data / "test.jsonl", make_toy_examples(24, seed=3))
        return teacher, data

    return make


def _distill(teacher: Path, data: Path, out: Path, *extra: str, progress: bool = False) -> dict:
    bar = "--progress" if progress else "--no-progress"
    args = ["distill", "--teacher", str(teacher), "--data", str(data), "--out", str(out),
            "--batch-size", "16", bar, *extra]  # fmt: skip
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _stages(out: Path) -> list[str]:
    lines = (out / "distill_log.jsonl").read_text().splitlines()
    return [json.loads(line)["stage"] for line in lines]


def test_distill_with_transfer_texts_and_qat(
    distill_setup_factory: Callable[..., tuple[Path, Path]], tmp_path: Path
) -> None:
    teacher, data = distill_setup_factory()
    out = tmp_path / "student"
    summary = _distill(teacher, data, out, "--transfer", "1", "--stages", "1,1,1",
                       "--qat-steps", "3", progress=True)  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_train"] == 48 and 0 < metrics["num_transfer"] <= 48
    assert metrics["eval_split"] == "test" and 0.0 <= summary["test"]["accuracy"] <= 1.0
    assert "hidden=2" in metrics["teacher_targets"]  # the middle of 4 layers
    assert metrics["ptq_int8"]["blob_bytes"] > 0 and metrics["qat_int8"]["steps"] == 3
    assert _stages(out) == ["hard", "output", "full"]
    model, labels = load_student(out)
    assert labels == sorted(KEYWORDS) and model.config.pooling == "last"
    assert (model.config.hashes, model.config.buckets) == (2, 4096)  # the default: spec v2
    load_student(out / "qat")
    assert len(list((out / "kd-cache").glob("*.safetensors"))) == 2  # logits; full-stage states


def test_attention_pooling_uses_attention_transfer_and_resumes(
    distill_setup_factory: Callable[..., tuple[Path, Path]], tmp_path: Path
) -> None:
    teacher, data = distill_setup_factory()
    out = tmp_path / "student"
    _distill(teacher, data, out, "--pooling", "attention", "--stages", "1,0,1",
             "--hashes", "1", "--buckets", "0")  # fmt: skip
    assert load_student(out)[0].config.spec_v1
    first = json.loads((out / "metrics.json").read_text())
    assert first["attention_transfer"] is True and "ptq_int8" not in first
    assert first["teacher_cache_hit"] is False
    _distill(teacher, data, out, "--pooling", "attention", "--stages", "1,0,2", "--resume",
             "--hashes", "1", "--buckets", "0")  # fmt: skip
    second = json.loads((out / "metrics.json").read_text())
    assert second["teacher_cache_hit"] is True
    assert _stages(out) == ["hard", "full", "full"]  # the resumed run added one epoch of "full"


def test_bad_arguments_fail_with_a_message(
    distill_setup_factory: Callable[..., tuple[Path, Path]], tmp_path: Path
) -> None:
    teacher, data = distill_setup_factory()
    args = ["distill", "--teacher", str(teacher), "--data", str(data), "--out",
            str(tmp_path / "x"), "--pooling", "attention", "--qat-steps", "5"]  # fmt: skip
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 1 and "--qat-steps needs --pooling last" in result.output
    assert parse_stages("2,0,1") == (2, 0, 1)
    with pytest.raises(ConfigError, match="three epoch counts"):
        parse_stages("2,1")
