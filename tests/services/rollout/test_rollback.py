"""Building the signed roll-forward release."""

from __future__ import annotations

import pytest

from contract.signing import verify
from services.rollout.rollback import RollbackError, build_rollback

from .conftest import release_blob


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


def test_build_rollback_refuses_an_out_of_range_version(releases):
    releases.add(2)
    with pytest.raises(RollbackError, match="model_version"):
        build_rollback(releases.store, 2, 2**32, releases.key, rolled_back=3)
