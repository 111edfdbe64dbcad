"""Write every wire schema as JSON Schema under ``docs/schemas/``.

``python -m services.schemas.export [DIR]``; a test fails when the committed files are stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from services.generated import export_main, write_files
from services.schemas.labels import LabelDeadLetter, LabelledSample, LabelRequest
from services.schemas.ops import OPS_COMMAND_ADAPTER
from services.schemas.prediction import PredictionEvent, PredictionEventV2
from services.schemas.release import ReleaseManifest
from services.schemas.rollout import RolloutRecord
from services.schemas.status import DeviceStatus
from services.settings import REPO_ROOT

DEFAULT_DIR = REPO_ROOT / "docs" / "schemas"

# file stem -> schema; the suffix is the schema_version.
SCHEMAS: dict[str, TypeAdapter[Any]] = {
    "prediction-event.v1": TypeAdapter(PredictionEvent),
    "prediction-event.v2": TypeAdapter(PredictionEventV2),
    "device-status.v1": TypeAdapter(DeviceStatus),
    "label-request.v1": TypeAdapter(LabelRequest),
    "labelled-sample.v1": TypeAdapter(LabelledSample),
    "label-dead-letter.v1": TypeAdapter(LabelDeadLetter),
    "release-manifest.v1": TypeAdapter(ReleaseManifest),
    "ops-command.v1": OPS_COMMAND_ADAPTER,
    "rollout-record.v1": TypeAdapter(RolloutRecord),
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
