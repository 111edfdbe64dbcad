"""benchmarks/blob_size: every record of a written blob is counted, against the OTA slot."""

from __future__ import annotations

from benchmarks.blob_size import SLOT_BYTES, blob_size


def test_sizes_add_up_and_the_head_follows_the_pooling() -> None:
    last = blob_size(labels=5, hashes=1, buckets=0, pooling="last", vocab=64, embed=8, hidden=4)
    both = blob_size(labels=5, hashes=2, buckets=16, pooling="meanmax", vocab=64, embed=8,
                     hidden=4)  # fmt: skip
    for r in (last, both):
        assert r["blob_bytes"] == sum(r["tensor_bytes"].values()) + r["other_bytes"]
        assert r["fits_slot"] and r["over_slot_bytes"] == r["blob_bytes"] - SLOT_BYTES < 0
        assert r["tensor_bytes"]["EMB"] == 64 * 8
    assert "IMP" not in last["tensor_bytes"] and both["tensor_bytes"]["IMP"] == 16 * 2
    assert (last["tensor_bytes"]["HW"], both["tensor_bytes"]["HW"]) == (5 * 8, 5 * 16)


def test_the_default_student_for_banking77_fits_one_slot(capsys) -> None:  # type: ignore[no-untyped-def]
    """The defaults are the student's (hash embedding K = 2, P = 4096, last pooling): with
    Banking77's 77 labels its blob must fit one 384 KiB OTA slot (mean+max would not)."""
    import json

    from benchmarks.blob_size import main

    assert main([]) == 0
    result = json.loads(capsys.readouterr().out)
    shape = result["config"]
    assert (shape["labels"], shape["hashes"], shape["buckets"]) == (77, 2, 4096)
    assert shape["pooling"] == "last" and result["fits_slot"]
    assert result["tensor_bytes"]["IMP"] == 4096 * 2
