import hashlib

import pytest

from contract.schemas import examples
from services.releases.store import ReleaseStore, ReleaseStoreError


def release(version: int, blob: bytes):
    manifest = examples.release_manifest(version).model_copy(
        update={"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
    )
    return manifest, blob


def test_put_then_read_back(tmp_path):
    store = ReleaseStore(tmp_path / "releases")
    assert store.versions() == [] and store.latest() is None
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")
    store.put(*release(2, b"blob-two"), student_dir=student)
    store.put(*release(3, b"blob-three"))
    assert store.versions() == [2, 3] and store.latest() == 3
    assert store.blob(2) == b"blob-two"
    assert store.manifest(3).sha256 == hashlib.sha256(b"blob-three").hexdigest()
    assert (store.student_dir(2) / "config.json").read_text() == "{}"
    assert store.student_dir(3) is None
    store.put(*release(2, b"blob-two"))  # a retried publish is a no-op


def test_refuses_mismatches_and_tampering(tmp_path):
    store = ReleaseStore(tmp_path)
    manifest, _ = release(2, b"right")
    with pytest.raises(ReleaseStoreError, match="does not match the manifest"):
        store.put(manifest, b"wrong")
    store.put(*release(2, b"right"))
    with pytest.raises(ReleaseStoreError, match="already exists with different bytes"):
        store.put(*release(2, b"other"))
    (tmp_path / "2" / "model.blob").write_bytes(b"rigHt")
    with pytest.raises(ReleaseStoreError, match="does not match its sha256"):
        store.blob(2)
    with pytest.raises(ReleaseStoreError, match="no release 7"):
        store.blob(7)
    with pytest.raises(ReleaseStoreError, match="start at 1"):
        store.manifest(0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left behind
