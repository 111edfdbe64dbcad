"""Stage-1 training: it learns, it is deterministic, resume equals an uninterrupted run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest
import torch

from models.errors import ConfigError, DataError, ModelsError
from models.student import StudentConfig, load_student
from models.tokenizer import Tokenizer
from models.train import CHECKPOINT_FILE, TrainConfig, train_student
from tests.models.toy_data import ToyExample, make_toy_examples

SMALL = StudentConfig(num_labels=3, embed_dim=16, hidden=16, dropout=0.1)
FAST = TrainConfig(epochs=4, batch_size=16, lr=1e-2, patience=10, seed=3)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def toy_split() -> Callable[..., tuple[list[ToyExample], list[ToyExample]]]:
    def make(n: int = 200, seed: int = 0) -> tuple[list[ToyExample], list[ToyExample]]:
        examples = make_toy_examples(n, seed)
        cut = int(0.8 * n)
        return examples[:cut], examples[cut:]

    return make


@pytest.fixture
def run(tmp_path, toy_split):
    train, valid = toy_split()

    def go(name: str, config: TrainConfig = FAST, **kwargs):
        return train_student(
            train,
            valid,
            tmp_path / name,
            tokenizer=Tokenizer(),
            config=config,
            student=SMALL,
            **kwargs,
        )

    return go


def test_learns_a_separable_toy_set(run, tmp_path) -> None:
    result = run("m", replace(FAST, epochs=6))
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.valid.accuracy > 0.8  # chance is 1/3
    assert result.labels == sorted(["运输中", "紧急", "已签收"])
    # The saved student is the returned best model and scores the same.
    model, labels = load_student(tmp_path / "m")
    assert labels == result.labels
    for key, value in result.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["valid"]["macro_f1"] == pytest.approx(result.valid.macro_f1)
    assert metrics["best_epoch"] == result.best_epoch
    log = (tmp_path / "m" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == list(range(1, 7))


def test_same_seed_same_weights(run) -> None:
    a = run("a", replace(FAST, epochs=2))
    b = run("b", replace(FAST, epochs=2))
    for key, value in a.model.state_dict().items():
        assert torch.equal(b.model.state_dict()[key], value), key


def test_resume_equals_uninterrupted_training(run) -> None:
    whole = run("whole")
    first = run("split", replace(FAST, epochs=2))
    assert first.epochs_run == 2
    resumed = run("split", FAST, resume=True)
    assert resumed.epochs_run == 4
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in whole.history]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in resumed.history] == strip
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_resume_refuses_a_different_run(run, tmp_path) -> None:
    with pytest.raises(ModelsError, match="no checkpoint"):
        run("none", resume=True)
    run("x", replace(FAST, epochs=1))
    with pytest.raises(ConfigError, match="seed"):
        run("x", replace(FAST, seed=4), resume=True)
    (tmp_path / "x" / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ModelsError, match="cannot read"):
        run("x", resume=True)


def test_max_steps_and_early_stopping(run) -> None:
    capped = run("capped", replace(FAST, max_steps=3))
    assert capped.steps == 3 and capped.epochs_run == 1
    # lr so small nothing improves after the first epoch: patience 1 stops at epoch 2.
    stalled = run("stalled", replace(FAST, epochs=5, lr=1e-9, patience=1))
    assert stalled.epochs_run == 2
    assert stalled.best_epoch == 1


def test_rejects_bad_data_and_config(tmp_path) -> None:
    tok = Tokenizer()
    good = make_toy_examples(6)
    with pytest.raises(DataError, match="empty"):
        train_student([], good, tmp_path, tokenizer=tok)
    with pytest.raises(DataError, match="validation"):
        train_student(good, [ToyExample("x", "nope")], tmp_path, tokenizer=tok)
    with pytest.raises(ConfigError, match="num_labels"):
        train_student(good, good, tmp_path, tokenizer=tok, student=replace(SMALL, num_labels=4))
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(batch_size=0)


def test_cli_train_student_writes_model_metrics_and_log(tmp_path) -> None:
    from typer.testing import CliRunner

    from services.cli import build_app
    from tests.models.toy_data import write_jsonl

    examples = make_toy_examples(90, seed=5)
    write_jsonl(tmp_path / "data" / "train.jsonl", examples[:60])
    write_jsonl(tmp_path / "data" / "valid.jsonl", examples[60:75])
    write_jsonl(tmp_path / "data" / "test.jsonl", examples[75:])
    out = tmp_path / "student"
    args = ["train", "student", "--data", str(tmp_path / "data"), "--out", str(out)]
    args += ["--epochs", "2", "--batch-size", "16", "--pooling", "meanmax"]  # progress bar on
    args += ["--hashes", "1", "--buckets", "0"]  # spec v1 on request (the default is v2)
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["epochs_run"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == 15
    assert metrics["student_config"]["pooling"] == "meanmax"
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2
    model, labels = load_student(out)
    assert model.config.pooling == "meanmax" and len(labels) == 3
    assert model.config.spec_v1

    args[args.index("--epochs") + 1] = "3"
    resumed = CliRunner().invoke(build_app(), [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 3

    # A file without --valid is a clear error, not a traceback.
    bad = CliRunner().invoke(
        build_app(),
        ["train", "student", "--data", str(tmp_path / "data" / "train.jsonl"), "--out", str(out)],
    )
    assert bad.exit_code == 1
    assert "--valid" in bad.output
