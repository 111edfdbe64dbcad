"""The release blob: a student with a tagging head ships its tagger, one without does not."""

from __future__ import annotations

import numpy as np
import torch

from models.blob import read_blob
from models.inttagger import quantize_tagger
from models.student import StudentConfig, TinyLSTM
from models.tagging import NUM_TAGS
from services.distiller.release import export_blob


def student(num_tags: int) -> TinyLSTM:
    torch.manual_seed(1)
    return TinyLSTM(StudentConfig(num_labels=2, vocab_size=64, embed_dim=8, hidden=8,
                                  max_len=12, num_tags=num_tags)).eval()  # fmt: skip


def test_a_release_with_a_tagging_head_carries_the_tagging_section():
    model = student(NUM_TAGS)
    tagger = read_blob(export_blob(model, ["ok", "late"], version=7)).tagger
    assert tagger is not None
    assert np.array_equal(tagger.w, quantize_tagger(model).w)


def test_a_release_without_the_head_has_no_section():
    assert read_blob(export_blob(student(0), ["ok", "late"], version=7)).tagger is None
