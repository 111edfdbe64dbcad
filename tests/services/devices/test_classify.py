"""``fleet classify``: texts from arguments, stdin or a file through the C engine, with a blob,
a float student or the newest signed release of the store."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from contract.schemas import examples
from contract.signing import sign
from edge_agent.memory import MemoryDevice
from services.cli import build_app
from services.devices.classify import ClassifyError, read_texts
from services.releases.keys import load_or_create_key
from services.releases.store import ReleaseStore
from tests.edge_agent.conftest import GOLDEN_BLOB, blob_version

TEXT = "上海仓库存预警通知"


def _run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(build_app(), ["classify", *args], input=stdin, env=env)


def test_a_blob_on_the_c_engine_agrees_with_the_integer_reference(tmp_path) -> None:
    done = _run("--blob", str(GOLDEN_BLOB), "--top-k", "4", "--json", TEXT, "顺丰快递已签收")
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in done.output.splitlines()]
    reference = MemoryDevice()
    reference.provision(GOLDEN_BLOB.read_bytes(), 1)
    for row, text in zip(rows, (TEXT, "顺丰快递已签收"), strict=True):
        expected = reference.classify(text, k=4)
        assert row["text"] == text and row["label"] == expected.label
        assert row["confidence"] == pytest.approx(expected.confidence, abs=1e-6)
        assert [label for label, _ in row["topk"]] == [label for label, _ in expected.topk]
        assert len(row["topk"]) == 4 and row["engine_ms"] > 0
        assert row["model"] == f"blob {GOLDEN_BLOB}"


def test_stdin_and_a_file_give_one_line_per_text(tmp_path) -> None:
    from_stdin = _run("--blob", str(GOLDEN_BLOB), stdin=f"{TEXT}\n\n顺丰快递已签收\n")
    assert from_stdin.exit_code == 0, from_stdin.output
    lines = from_stdin.output.splitlines()
    assert lines[0].startswith("model: blob") and len(lines) == 3 and " ms\t[" in lines[1]
    (tmp_path / "texts.txt").write_text(f"{TEXT}\n", encoding="utf-8")
    from_file = _run("--blob", str(GOLDEN_BLOB), "--file", str(tmp_path / "texts.txt"))
    assert from_file.exit_code == 0 and from_file.output.splitlines()[1].endswith(TEXT)
    with pytest.raises(ClassifyError, match="no text"):
        read_texts(["  "], None)


def test_the_newest_signed_release_of_the_store_and_refusals(tmp_path) -> None:
    keys = load_or_create_key(tmp_path / "keys")
    store = ReleaseStore(tmp_path / "releases")
    for version in (2, 3):
        blob = blob_version(version)
        manifest = examples.release_manifest(version).model_copy(
            update={"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
        )
        store.put(sign(manifest, keys), blob)
    env = {"FLEET_STACK__DATA_DIR": str(tmp_path)}
    done = _run(TEXT, env=env)
    assert done.exit_code == 0, done.output
    assert "release v3" in done.output and "signature verified" in done.output
    assert _run("--release", "2", TEXT, env=env).output.count("release v2") == 1

    other = load_or_create_key(tmp_path / "other")  # a release signed by someone else
    blob = blob_version(4)
    manifest = examples.release_manifest(4).model_copy(
        update={"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
    )
    store.put(sign(manifest, other), blob)
    refused = _run(TEXT, env=env)
    assert refused.exit_code == 1 and "release 4" in refused.output
    empty = _run(TEXT, env={"FLEET_STACK__DATA_DIR": str(tmp_path / "none")})
    assert empty.exit_code == 1 and "no release" in empty.output
    bad = tmp_path / "bad.blob"
    bad.write_bytes(b"not a blob")
    assert "not a valid model blob" in _run("--blob", str(bad), TEXT).output
    assert _run("--blob", str(bad), "--release", "2", TEXT).exit_code == 2
