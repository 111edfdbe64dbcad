"""The student's flash footprint: how many bytes its blob takes, and a default student that fits
the device's OTA slot (``contract.limits.SLOT_BYTES``).

The blob grows with the label set (a head row of 2H int8 weights, an int32 bias and the label's
name per class) and with the optional tagging section; the embedding table (``vocab_size`` rows
of ``embed_dim`` int8 values) is the one part whose size is free, because the hash embedding maps
any token key onto whatever rows exist (``docs/tokenizer.md`` section 7). So a label set too
large for the default table keeps everything else and gets fewer table rows, and a student that
still does not fit is refused here, before any training, instead of by every device at the end
of a rollout (``TL_ERR_TOO_LARGE``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from contract.limits import SLOT_BYTES
from models.errors import ConfigError
from models.student import StudentConfig

ROW_STEP = 64  # table rows are cut in steps of this many
MIN_ROWS = 256  # fewer rows than this collide too much to be worth shipping


def blob_bytes(config: StudentConfig, labels: Sequence[str]) -> int:
    """The size of the blob a student of ``config`` with ``labels`` is exported to (weights
    do not change it: every tensor's shape follows from the config)."""
    import torch

    from models.blob import write_blob
    from models.inttagger import student_tagger
    from models.quantize import quantize_student
    from models.student import TinyLSTM

    assert len(labels) == config.num_labels, f"{len(labels)} labels for {config.num_labels}"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = TinyLSTM(config).eval()
    integer = quantize_student(model, labels)
    return len(write_blob(integer, model_version=1, tagger=student_tagger(model)))


def fit_to_slot(
    config: StudentConfig, labels: Sequence[str], slot_bytes: int = SLOT_BYTES
) -> StudentConfig:
    """``config`` if its blob fits ``slot_bytes``, else the same student with the largest
    embedding table (a multiple of ``ROW_STEP`` rows) that fits; ``ConfigError`` when even
    ``MIN_ROWS`` rows do not. A pooling the integer engine lacks (attention) has no blob: such a
    student is for measurements on the host and is returned as it is."""
    from models.intlstm import POOLING_CODES

    if config.pooling not in POOLING_CODES:
        return config
    size = blob_bytes(config, labels)
    while size > slot_bytes:
        rows_over = math.ceil((size - slot_bytes) / config.embed_dim)
        rows = (config.vocab_size - rows_over) // ROW_STEP * ROW_STEP
        if rows < MIN_ROWS:
            raise ConfigError(
                f"a student with {len(labels)} labels needs {size} bytes with "
                f"{config.vocab_size} embedding rows, more than the {slot_bytes}-byte slot allows "
                f"even with {MIN_ROWS} rows: use fewer labels or a smaller hidden size"
            )
        config = replace(config, vocab_size=rows)
        size = blob_bytes(config, labels)
    return config


def check_fits(blob: bytes, slot_bytes: int = SLOT_BYTES) -> None:
    """``ConfigError`` naming both sizes when ``blob`` would not fit a device's slot."""
    if len(blob) > slot_bytes:
        raise ConfigError(
            f"the blob is {len(blob)} bytes, more than the device's {slot_bytes}-byte OTA slot: "
            "devices would refuse it (TL_ERR_TOO_LARGE)"
        )
