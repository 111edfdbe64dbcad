"""The student's flash footprint: exact blob sizes, and a default that fits the OTA slot."""

from __future__ import annotations

import pytest

from contract.limits import SLOT_BYTES
from models.blob import write_blob
from models.errors import ConfigError
from models.footprint import ROW_STEP, blob_bytes, check_fits, fit_to_slot
from models.quantize import quantize_student
from models.student import StudentConfig, TinyLSTM

SMALL = dict(vocab_size=512, embed_dim=16, hidden=24, max_len=32)


def labels(n: int) -> list[str]:
    return [f"label-{i}" for i in range(n)]


@pytest.mark.parametrize("extra", [{}, {"num_tags": 11}, {"pooling": "meanmax"}])
def test_blob_bytes_is_the_size_of_any_trained_model_of_that_config(extra):
    config = StudentConfig(num_labels=5, **SMALL, **extra)  # type: ignore[arg-type]
    model = TinyLSTM(config).eval()  # other weights than blob_bytes' own model
    from models.inttagger import student_tagger

    blob = write_blob(quantize_student(model, labels(5)), 7, tagger=student_tagger(model))
    assert blob_bytes(config, labels(5)) == len(blob)


def test_a_student_that_fits_is_left_alone():
    config = StudentConfig(num_labels=5, **SMALL)  # type: ignore[arg-type]
    assert fit_to_slot(config, labels(5)) == config
    # attention pooling has no integer kernel, so no blob: a host-only student
    host_only = StudentConfig(num_labels=5, pooling="attention", **SMALL)  # type: ignore[arg-type]
    assert fit_to_slot(host_only, labels(5), slot_bytes=1) == host_only


def test_a_large_label_set_gets_fewer_table_rows_and_fits():
    # 108 classes (Banking77 + ECDT) with the default table are over the slot
    default = StudentConfig(num_labels=108)
    assert blob_bytes(default, labels(108)) > SLOT_BYTES
    fit = fit_to_slot(default, labels(108))
    assert fit.vocab_size < default.vocab_size and fit.vocab_size % ROW_STEP == 0
    assert blob_bytes(fit, labels(108)) <= SLOT_BYTES
    # the largest such table: one more step of rows would not fit
    bigger = StudentConfig(num_labels=108, vocab_size=fit.vocab_size + ROW_STEP)
    assert blob_bytes(bigger, labels(108)) > SLOT_BYTES
    assert {k: v for k, v in vars(fit).items() if k != "vocab_size"} == {
        k: v for k, v in vars(default).items() if k != "vocab_size"
    }


def test_a_student_that_cannot_fit_is_refused_by_name():
    config = StudentConfig(num_labels=5, **SMALL)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"5 labels needs .* bytes"):
        fit_to_slot(config, labels(5), slot_bytes=1024)


def test_check_fits_names_both_sizes():
    check_fits(b"x" * SLOT_BYTES)
    with pytest.raises(ConfigError, match=f"{SLOT_BYTES + 1} bytes.*{SLOT_BYTES}-byte"):
        check_fits(b"x" * (SLOT_BYTES + 1))
