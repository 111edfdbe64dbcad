"""``fleet export``: a trained student directory -> a model blob, ONNX (float or int8),
TorchScript, or the blob as a C header for firmware builds.

Heavy imports (torch, onnxruntime) happen inside the command so ``fleet --help`` stays fast.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from models.errors import ModelsError

FORMATS: tuple[str, ...] = ("blob", "onnx", "onnx-int8", "torchscript", "c-header")


def export_model(model_dir: Path, fmt: str, out: Path, version: int, name: str) -> Path:
    """Write ``model_dir``'s student to ``out`` in format ``fmt``; returns ``out``."""
    from models import export
    from models.blob import write_blob
    from models.errors import ConfigError
    from models.inttagger import student_tagger
    from models.quantize import quantize_student
    from models.student import load_student

    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    model, labels = load_student(model_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("blob", "c-header"):
        blob = write_blob(
            quantize_student(model, labels), model_version=version, tagger=student_tagger(model)
        )
        if fmt == "blob":
            out.write_bytes(blob)
        else:
            out.write_text(export.render_c_header(blob, name))
    elif fmt == "onnx":
        export.export_onnx(model, out)
    elif fmt == "onnx-int8":
        with tempfile.TemporaryDirectory() as tmp:
            float_path = export.export_onnx(model, Path(tmp) / "float.onnx")
            export.quantize_onnx(float_path, out)
    else:
        export.export_torchscript(model, out)
    return out


def export_command(
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}")],
    model: Annotated[Path, typer.Option(help="Student directory (fleet train student output)")],
    out: Annotated[Path, typer.Option(help="Output file")],
    version: Annotated[
        int, typer.Option(min=1, help="Model version written into the blob header")
    ] = 1,
    name: Annotated[str, typer.Option(help="C array name for --format c-header")] = (
        "tinylstm_model"
    ),
) -> None:
    """Export a trained student for CPU serving or for the devices."""
    try:
        path = export_model(model, fmt, out, version, name)
    except ModelsError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"wrote {path} ({path.stat().st_size} bytes, format {fmt})")


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
