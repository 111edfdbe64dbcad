"""``fleet classify``: try a model by hand on the devices' own integer engine (the C library
``libtinylstm.so`` through ``clib.CDevice``, provisioned like a device: staged, SHA-256
checked, booted with its self-test).

    fleet classify "上海仓库存预警通知"              # the newest release in the release store
    echo "..." | fleet classify                     # one text per line from stdin
    fleet classify --file texts.txt --top-k 5 --json
    fleet classify --release 3 "..."   fleet classify --blob model.blob "..."
    fleet classify --student var/demo/student "..."  # a float student, quantised to a blob

A release from the store is used only when its manifest's signature verifies against
``var/keys/release.pub``, as a device would insist.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from edge_agent.errors import EdgeError


class ClassifyError(EdgeError):
    """No model to load (missing release, bad signature, bad blob) or no text to classify."""


@dataclass(frozen=True)
class Result:
    text: str
    label: str
    confidence: float
    topk: tuple[tuple[str, float], ...]
    engine_ms: float  # the C engine's classification (tl_engine_classify), wall time
    total_ms: float  # the call from Python, tokenisation to top-k


def release_blob(settings: Any, version: int | None) -> tuple[bytes, int, str]:
    """(blob, version, where from) of a signed release in the store (newest by default)."""
    from contract.errors import SignatureError
    from contract.signing import verify
    from services.releases.store import ReleaseStore, ReleaseStoreError

    store = ReleaseStore(settings.data_dir / "releases")
    chosen = version if version is not None else store.latest()
    if chosen is None:
        raise ClassifyError(
            f"no release in {store.root}; pass --blob or --student, or run `fleet distiller seed`"
        )
    key_path = settings.data_dir / "keys" / "release.pub"
    try:
        manifest = store.manifest(chosen)
        blob = store.blob(chosen)
        verify(manifest, key_path.read_bytes())
    except (ReleaseStoreError, SignatureError) as exc:
        raise ClassifyError(f"release {chosen}: {exc}") from exc
    except OSError as exc:
        raise ClassifyError(f"cannot read the release key {key_path}: {exc}") from exc
    return blob, chosen, f"release v{chosen} ({store.root}, signature verified)"


def blob_file(path: Path) -> tuple[bytes, int, str]:
    from models.blob import BlobError, read_blob

    try:
        data = path.read_bytes()
        return data, read_blob(data).model_version, f"blob {path}"
    except OSError as exc:
        raise ClassifyError(f"cannot read {path}: {exc}") from exc
    except BlobError as exc:
        raise ClassifyError(f"{path} is not a valid model blob: {exc}") from exc


def student_blob(model_dir: Path) -> tuple[bytes, int, str]:
    from models.blob import write_blob
    from models.quantize import quantize_student
    from models.student import load_student

    try:
        model, labels = load_student(model_dir)
    except (OSError, ValueError) as exc:
        raise ClassifyError(f"cannot load the student in {model_dir}: {exc}") from exc
    return write_blob(quantize_student(model, labels), model_version=1), 1, f"student {model_dir}"


def classify(blob: bytes, version: int, texts: list[str], k: int) -> list[Result]:
    """Each text through the C engine after provisioning ``blob`` like a device."""
    from edge_agent.clib import CDevice

    device = CDevice()
    device.provision(blob, version)
    results = []
    for text in texts:
        started = time.perf_counter()
        prediction = device.classify(text, k=k)
        total = (time.perf_counter() - started) * 1000
        results.append(
            Result(
                text,
                prediction.label,
                prediction.confidence,
                prediction.topk,
                prediction.latency_us / 1000,
                total,
            )
        )
    return results


def read_texts(texts: list[str], file: Path | None) -> list[str]:
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ClassifyError(f"cannot read {file}: {exc}") from exc
    elif texts and texts != ["-"]:
        lines = texts
    else:
        lines = sys.stdin.read().splitlines()
    lines = [line.strip() for line in lines if line.strip()]
    if not lines:
        raise ClassifyError("no text to classify: give it as arguments, --file or stdin")
    return lines


def register(app: typer.Typer) -> None:
    @app.command("classify")
    def classify_command(
        texts: Annotated[
            list[str] | None, typer.Argument(help="Texts ('-' or none: stdin)")
        ] = None,
        file: Annotated[Path | None, typer.Option(help="One text per line")] = None,
        release: Annotated[int | None, typer.Option(min=1, help="Release in the store")] = None,
        blob: Annotated[Path | None, typer.Option(help="A model blob file")] = None,
        student: Annotated[Path | None, typer.Option(help="A float student folder")] = None,
        top_k: Annotated[int, typer.Option(min=1, max=16)] = 3,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per text")] = False,
        config: Annotated[Path | None, typer.Option(help="fleet.toml")] = None,
    ) -> None:
        """Classify texts with the devices' integer engine: label, confidence, top-k, ms."""
        from services.settings import load_settings

        if sum(x is not None for x in (release, blob, student)) > 1:
            typer.echo("error: give at most one of --release, --blob, --student", err=True)
            raise typer.Exit(2)
        try:
            lines = read_texts(list(texts or []), file)
            if blob is not None:
                data, version, source = blob_file(blob)
            elif student is not None:
                data, version, source = student_blob(student)
            else:
                data, version, source = release_blob(load_settings(config), release)
            results = classify(data, version, lines, top_k)
        except EdgeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        if as_json:
            for r in results:
                typer.echo(json.dumps({**vars(r), "model": source}, ensure_ascii=False))
            return
        typer.echo(f"model: {source}, C engine {CLIB_NAME}")
        for r in results:
            topk = ", ".join(f"{label} {p:.3f}" for label, p in r.topk)
            typer.echo(f"{r.label}\t{r.confidence:.3f}\t{r.engine_ms:.2f} ms\t[{topk}]\t{r.text}")


CLIB_NAME = "libtinylstm.so"
