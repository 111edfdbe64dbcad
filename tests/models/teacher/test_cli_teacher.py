"""``fleet teacher convert | finetune | label`` end to end through the Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.cli import build_app
from tests.models.teacher.test_finetune import LOGISTICS
from tests.models.tiny_teacher import make_tiny_teacher


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_convert_reuses_the_cache(teacher_cache: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["teacher", "convert", "--cache-dir", str(teacher_cache)]
    )
    assert result.exit_code == 0, result.output
    assert str(teacher_cache / "e5-small") in result.output


def test_finetune_then_soft_label(tmp_path: Path) -> None:
    app, runner = build_app(), CliRunner()
    data = _write(tmp_path / "train.jsonl", [{"text": t, "label": y} for t, y in LOGISTICS])
    out = tmp_path / "teacher"
    base = make_tiny_teacher(tmp_path / "base", ["x", "y"])  # small checkpoints on disk

    def finetune(steps: int) -> str:
        args = ["teacher", "finetune", "--data", str(data), "--out", str(out), "--teacher",
                str(base), "--max-steps", str(steps), "--batch-size", "4", "--checkpoint-every",
                "2", "--no-progress"]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return result.output

    assert "3 steps" in finetune(3)
    resumed = finetune(5)
    assert "resumed from step 3" in resumed and "5 steps" in resumed

    texts = _write(tmp_path / "transfer.jsonl", [{"id": "a", "text": "包裹破损"}, {"text": "在途"}])
    labeled = tmp_path / "labeled.jsonl"
    result = runner.invoke(app, ["teacher", "label", "--data", str(texts), "--out", str(labeled),
                                 "--teacher", str(out), "--temperature", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in labeled.read_text("utf-8").splitlines()]
    assert [r.get("id") for r in rows] == ["a", None]
    for row in rows:
        assert set(row["teacher_probs"]) == {"运输中", "已签收", "异常"}
        assert abs(sum(row["teacher_probs"].values()) - 1) < 1e-4
        assert row["label"] == max(row["teacher_probs"], key=row["teacher_probs"].get)


def test_label_without_a_source_fails_clearly(tmp_path: Path) -> None:
    texts = _write(tmp_path / "t.jsonl", [{"text": "x"}])
    result = CliRunner().invoke(
        build_app(), ["teacher", "label", "--data", str(texts), "--out", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 1
    assert "--teacher" in result.output


def test_label_with_an_llm_endpoint(tmp_path: Path, chat_server_factory, monkeypatch) -> None:
    base, script = chat_server_factory([("reply", "异常"), ("reply", "bad"), ("reply", "运输中")])
    monkeypatch.setenv("FLEET_LLM_API_KEY", "secret")
    texts = _write(tmp_path / "t.jsonl", [{"text": "包裹破损"}, {"text": "在途"}])
    out = tmp_path / "o.jsonl"
    args = ["teacher", "label", "--data", str(texts), "--out", str(out), "--llm-url", base,
            "--labels", "运输中,已签收,异常"]  # fmt: skip
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["label"] for r in rows] == ["异常", "运输中"]  # the bad reply was asked again
    assert len(script.requests) == 3
    assert script.headers[0]["Authorization"] == "Bearer secret"
