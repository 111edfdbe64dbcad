from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from models.errors import DataError
from models.teacher import Teacher
from models.teacher.finetune import FinetuneConfig, finetune

LOGISTICS = [
    ("包裹已到达上海转运中心，正在运输中", "运输中"),
    ("parcel departed the Shenzhen hub, in transit", "运输中"),
    ("货物在途，预计明天到达", "运输中"),
    ("shipment is on the way to Beijing", "运输中"),
    ("快件已签收，签收人：本人", "已签收"),
    ("package delivered and signed for by the customer", "已签收"),
    ("您的订单已签收，感谢使用", "已签收"),
    ("delivered to the front desk, signed", "已签收"),
    ("包裹破损，派送失败", "异常"),
    ("delivery failed: address not found", "异常"),
    ("快件异常，请联系客服", "异常"),
    ("parcel damaged in transit, exception raised", "异常"),
]


@pytest.fixture
def labeled_file_factory(tmp_path: Path) -> Callable[..., Path]:
    def make(rows: list[tuple[str, str]] = LOGISTICS) -> Path:
        path = tmp_path / "train.jsonl"
        lines = [json.dumps({"text": t, "label": label}, ensure_ascii=False) for t, label in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return make


_TINY: list[Path] = []  # the tiny base encoder, made once per session by the fixture below


@pytest.fixture(scope="module", autouse=True)
def _tiny_base(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A 4-layer, 32-wide random BERT as the base: checkpoints of KBs, not of minilm's 270 MB
    (weights and optimiser state), so these tests write little to disk."""
    from tests.models.tiny_teacher import make_tiny_teacher

    _TINY[:] = [make_tiny_teacher(tmp_path_factory.mktemp("tiny-base"), ["x", "y"])]


def _config(**kwargs) -> FinetuneConfig:
    base = dict(teacher=str(_TINY[0]), batch_size=4, lr=1e-3, head_lr=2e-2, checkpoint_every=4,
                max_length=32, dropout=0.0)  # fmt: skip
    return FinetuneConfig(**{**base, **kwargs})


def test_loss_decreases_and_the_result_loads_as_a_classifier(
    labeled_file_factory: Callable[..., Path], tmp_path: Path
) -> None:
    result = finetune(labeled_file_factory(), tmp_path / "ft", _config(max_steps=36, epochs=12),
                      progress=False)  # fmt: skip
    assert result.steps == 36 and result.resumed_from is None
    first, last = result.losses[:3], result.losses[-3:]
    assert sum(last) / 3 < 0.8 * sum(first) / 3, result.losses
    teacher = Teacher.load(result.out_dir)
    assert teacher.label_names == ["已签收", "异常", "运输中"]
    probs = teacher.predict_proba([t for t, _ in LOGISTICS])
    predicted = [teacher.label_names[i] for i in probs.argmax(-1).tolist()]
    accuracy = sum(p == y for p, (_, y) in zip(predicted, LOGISTICS, strict=True)) / len(LOGISTICS)
    assert accuracy > 1 / 3  # better than chance on its training texts
    kept = sorted(p.name for p in (result.out_dir / "checkpoints").iterdir())
    assert kept == ["step-0000033", "step-0000036"]  # keep_checkpoints=2 (epoch ends, every 4)


def test_resumed_run_ends_where_an_uninterrupted_one_does(
    labeled_file_factory: Callable[..., Path], tmp_path: Path
) -> None:
    data = labeled_file_factory()
    straight = finetune(data, tmp_path / "straight", _config(max_steps=8), progress=False)
    finetune(data, tmp_path / "split", _config(max_steps=4), progress=False)
    resumed = finetune(data, tmp_path / "split", _config(max_steps=8), progress=False)
    assert resumed.resumed_from == 4 and len(resumed.losses) == 4
    assert resumed.losses == pytest.approx(straight.losses[4:], rel=1e-4, abs=1e-5)
    a, b = Teacher.load(straight.out_dir), Teacher.load(resumed.out_dir)
    assert a.head is not None and b.head is not None
    assert torch.allclose(a.head.linear.weight, b.head.linear.weight, atol=1e-5)


def test_resume_refuses_a_different_label_set(
    labeled_file_factory: Callable[..., Path], tmp_path: Path
) -> None:
    finetune(labeled_file_factory(), tmp_path / "ft", _config(max_steps=4), progress=False)
    other = labeled_file_factory([(t, "x" if i % 2 else "y") for i, (t, _) in enumerate(LOGISTICS)])
    with pytest.raises(DataError, match="labels"):
        finetune(other, tmp_path / "ft", _config(max_steps=8), progress=False)


def test_validation_keeps_the_best_epoch_and_stops_when_patience_runs_out(
    labeled_file_factory: Callable[..., Path], tmp_path: Path
) -> None:
    from models.data import load_examples
    from models.teacher.finetune import accuracy

    data = labeled_file_factory()
    valid = load_examples(data)[::2]
    config = _config(epochs=8, patience=2, batch_size=6)
    result = finetune(data, tmp_path / "ft", config, progress=False, valid=valid)
    scores = [row["valid_accuracy"] for row in result.history]
    assert [row["epoch"] for row in result.history] == list(range(1, len(scores) + 1))
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # first best epoch
    assert result.best_epoch == best + 1
    # stopped after `patience` epochs without a better score, or ran out of epochs
    assert result.stopped_early == (len(scores) - 1 - best >= 2)
    assert result.stopped_early or len(scores) == 8
    kept = Teacher.load(result.out_dir)
    assert accuracy(kept, valid, kept.label_names) == pytest.approx(scores[best])
    history = json.loads((result.out_dir / "history.json").read_text())
    assert history == result.history


def test_a_resumed_validated_run_ends_where_an_uninterrupted_one_does(
    labeled_file_factory: Callable[..., Path], tmp_path: Path
) -> None:
    from models.data import load_examples

    data = labeled_file_factory()
    valid = load_examples(data)[1::2]
    config = _config(epochs=4, patience=4, batch_size=6)
    straight = finetune(data, tmp_path / "straight", config, progress=False, valid=valid)
    finetune(data, tmp_path / "split", _config(epochs=4, patience=4, batch_size=6, max_steps=3),
             progress=False, valid=valid)  # fmt: skip
    resumed = finetune(data, tmp_path / "split", config, progress=False, valid=valid)
    assert resumed.resumed_from == 3
    assert resumed.history == straight.history
    assert resumed.losses == pytest.approx(straight.losses[3:], rel=1e-4, abs=1e-5)
