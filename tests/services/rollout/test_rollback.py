"""Re-stamping a blob under a new version, and building the signed roll-forward release."""

from __future__ import annotations

import pytest

from models.blob import read_blob
from services.releases.signing import verify
from services.rollout.rollback import RollbackError, build_rollback, restamp

from .conftest import release_blob


def test_restamp_changes_only_the_version_and_crc():
    original = release_blob(2)
    stamped = restamp(original, 9)
    assert stamped == release_blob(9)  # what the exporter writes for version 9
    differing = [i for i, (a, b) in enumerate(zip(original, stamped, strict=True)) if a != b]
    assert differing and all(8 <= i < 12 or i >= len(original) - 4 for i in differing)
    assert read_blob(stamped).model_version == 9


def test_restamp_rejects_an_out_of_range_version():
    with pytest.raises(RollbackError, match="model version"):
        restamp(release_blob(2), 0)


def test_build_rollback_signs_and_stores_the_old_weights_idempotently(releases):
    good = releases.add(2)
    manifest = build_rollback(releases.store, 2, 5, releases.key, rolled_back=4)
    verify(manifest, releases.public)
    assert manifest.version == 5 and manifest.reference_profile == good.reference_profile
    assert manifest.metrics["rollback_of"] == 4 and manifest.metrics["weights_of"] == 2
    assert releases.store.blob(5) == release_blob(5)
    again = build_rollback(releases.store, 2, 5, releases.key, rolled_back=4)  # a retry
    assert again == releases.store.manifest(5) == manifest


def test_build_rollback_without_the_good_release_fails(releases):
    with pytest.raises(RollbackError, match="cannot build"):
        build_rollback(releases.store, 2, 3, releases.key, rolled_back=2)
