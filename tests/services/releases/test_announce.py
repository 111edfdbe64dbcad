"""The key rule of ``model.releases`` and the in-memory announcer."""

from __future__ import annotations

import pytest

from contract.schemas import examples
from services.releases.announce import AnnounceError, MemoryAnnouncer, release_key


def test_one_key_per_release_of_a_target():
    v1, v2 = examples.release_manifest(1), examples.release_manifest(2)
    assert release_key(v1) == f"{v1.target}/v1".encode()
    assert release_key(v1) != release_key(v2)
    other = v1.model_copy(update={"target": "other-board"})
    assert release_key(other) == b"other-board/v1"


def test_memory_announcer_keeps_what_was_announced_or_fails_when_told():
    announcer = MemoryAnnouncer()
    announcer.publish(examples.release_manifest(3))
    assert [m.version for m in announcer.published] == [3]
    with pytest.raises(AnnounceError):
        MemoryAnnouncer(fail=True).publish(examples.release_manifest(3))
