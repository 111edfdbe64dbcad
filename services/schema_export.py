"""Write every wire schema of ``contract/schemas/`` as JSON Schema under ``docs/schemas/``.

``python -m services.schema_export [DIR]``; a test fails when the committed files are stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from contract.schemas.chunks import Chunk, ChunkRequest
from contract.schemas.dlq import DlqRecord
from contract.schemas.labels import LabelDeadLetter, LabeledSample, LabelRequest
from contract.schemas.ops import OPS_COMMAND_ADAPTER
from contract.schemas.prediction import PredictionEvent, PredictionEventV2
from contract.schemas.release import ReleaseManifest
from contract.schemas.rollout import RolloutRecord
from contract.schemas.status import DeviceStatus
from services.generated import export_main, write_files
from services.settings import REPO_ROOT

DEFAULT_DIR = REPO_ROOT / "docs" / "schemas"

# file stem -> schema; the suffix is the schema_version.
SCHEMAS: dict[str, TypeAdapter[Any]] = {
    "prediction-event.v1": TypeAdapter(PredictionEvent),
    "prediction-event.v2": TypeAdapter(PredictionEventV2),
    "device-status.v1": TypeAdapter(DeviceStatus),
    "label-request.v1": TypeAdapter(LabelRequest),
    "labeled-sample.v1": TypeAdapter(LabeledSample),
    "label-dead-letter.v1": TypeAdapter(LabelDeadLetter),
    "release-manifest.v1": TypeAdapter(ReleaseManifest),
    "ops-command.v1": OPS_COMMAND_ADAPTER,
    "rollout-record.v1": TypeAdapter(RolloutRecord),
    "chunk-request.v1": TypeAdapter(ChunkRequest),
    "chunk.v1": TypeAdapter(Chunk),
    "dlq-record.v1": TypeAdapter(DlqRecord),
}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    out = {}
    for stem, adapter in SCHEMAS.items():
        schema = adapter.json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"{stem}.json"
        text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False)
        out[f"{stem}.json"] = text + "\n"
    return out


def write(directory: Path = DEFAULT_DIR) -> list[Path]:
    return write_files(render(), directory)


def main(argv: list[str] | None = None) -> None:
    export_main(render, DEFAULT_DIR, argv)


if __name__ == "__main__":
    main()
