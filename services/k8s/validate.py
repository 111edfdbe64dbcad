"""Offline validation of ``deploy/k8s``: built-in kinds against the Kubernetes OpenAPI schemas
that ``kubernetes-validate`` ships (strict: unknown fields are errors), custom resources
against the CRD schemas of the operators' releases committed in ``deploy/k8s/schemas/``
(Strimzi 1.2.0, Prometheus Operator v0.93.0; each file names its source)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from models.errors import ConfigError
from services.settings import REPO_ROOT

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
SCHEMAS_DIR = K8S_DIR / "schemas"
KUBERNETES_VERSION = "1.33.0"  # the oldest Kubernetes the manifests are meant for


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the CRD's openAPIV3Schema, made strict."""
    out = {}
    for path in sorted(SCHEMAS_DIR.glob("*.json")):
        schema = strict(json.loads(path.read_text()))
        for gvk in schema["x-kubernetes-group-version-kind"]:
            out[(f"{gvk['group']}/{gvk['version']}", gvk["kind"])] = schema
    return out


def strict(schema: Any) -> Any:
    """Unknown fields become errors, as with ``kubectl apply --validate=strict``: every
    object schema that lists its properties (and does not preserve unknown fields) gets
    ``additionalProperties: false``. A CRD's schema alone would let a typo through, since
    the API server prunes unknown fields of custom resources silently."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def validate_object(obj: dict[str, Any]) -> list[str]:
    """Error messages (empty when the object is valid)."""
    import jsonschema
    import kubernetes_validate

    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    name = f"{key[1]} {obj.get('metadata', {}).get('name', '?')}"
    schema = crd_schemas().get(key)
    if schema is not None:
        validator = jsonschema.Draft7Validator(schema)
        return [f"{name}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(obj)]  # fmt: skip
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(map(str, exc.path))
        return [f"{name}: {path}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{name}: no schema for {key[0]} {key[1]} (neither built-in nor a vendored CRD)"]
    return []


def load_dir(directory: Path = K8S_DIR) -> list[tuple[Path, dict[str, Any]]]:
    objects = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                objects.append((path, doc))
    if not objects:
        raise ConfigError(f"no manifests in {directory}")
    return objects


def validate_dir(directory: Path = K8S_DIR) -> list[str]:
    errors = []
    for path, obj in load_dir(directory):
        errors += [f"{path.name}: {e}" for e in validate_object(obj)]
    return errors
