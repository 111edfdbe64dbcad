"""One retrain cycle on in-memory doubles: publish, gate rejection, refused store entries."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace

import pytest

from contract.signing import verify
from models.blob import read_blob
from models.student import load_student
from services.distiller.cycle import CycleConfig, CycleError, ReplaySet, run_cycle
from services.distiller.finetune import FinetuneConfig
from services.distiller.gate import GateConfig
from services.distiller.samples import MemorySampleStore
from services.processor.releases import ReferenceStore
from services.releases.announce import MemoryAnnouncer
from services.releases.keys import public_bytes
from services.releases.store import ReleaseStore
from tests.services.distiller.factories import examples, labeled, write_replay

CONFIG = CycleConfig(finetune=FinetuneConfig(max_steps=40, lr=5e-3), gate=GateConfig())
PHASE2 = sorted({label for _, label in examples(2, "train")})


def phase2_store(noise: bool = False, n: int = 300) -> MemorySampleStore:
    store = MemorySampleStore()
    store.add(labeled(examples(2, "train")[:n], PHASE2, noise=noise, seed=1))
    return store


def replay_factory(tmp_path) -> ReplaySet:
    path = write_replay(tmp_path / "replay.jsonl", examples(0, "train"))
    return ReplaySet.load(path, None, valid_share=0.2, valid_max=200)


def test_publishes_a_signed_version_2_from_the_current_student(release_factory, tmp_path):
    releases, key = release_factory()
    samples, publisher = phase2_store(), MemoryAnnouncer()
    result = run_cycle(CONFIG, samples, releases, replay_factory(tmp_path), key, publisher)

    assert result.outcome == "published" and result.version == 2, result.to_dict()
    assert releases.versions() == [1, 2]
    (manifest,) = publisher.published
    assert manifest == releases.manifest(2)
    verify(manifest, public_bytes(key))
    blob = releases.blob(2)
    assert hashlib.sha256(blob).hexdigest() == manifest.sha256
    parsed = read_blob(blob)
    assert parsed.model_version == 2
    assert parsed.tokenizer_version == 2  # a new seed is on the default hash embedding
    # phase 2 brings a label release 1 never saw; the candidate grew a head row for it
    assert "拦截" in parsed.model.labels and "拦截" in manifest.reference_profile.class_mix
    v1_dir, v2_dir = releases.student_dir(1), releases.student_dir(2)
    assert v1_dir is not None and v2_dir is not None
    assert "拦截" not in load_student(v1_dir)[1] and "拦截" in load_student(v2_dir)[1]
    m = manifest.metrics
    assert m["gate_new_accuracy_candidate"] > m["gate_new_accuracy_old"]
    assert m["gate_replay_accuracy_candidate"] >= m["gate_replay_accuracy_old"] - 0.02
    assert {"gate_new_accuracy_candidate_int8", "parent_version", "train_steps"} <= set(m)
    assert m["train_steps"] == 40 and m["train_replay"] > 0
    assert samples.new_count() == 0  # the cursor moved
    refs = ReferenceStore()  # the processor's view of model.releases
    assert refs.apply(manifest.to_bytes()) and refs.get(2) == manifest.reference_profile


def test_a_spec_v1_release_is_fine_tuned_as_spec_v1(release_factory, tmp_path):
    """The distiller continues from the current release's config: a release trained before the
    hash embedding became the default keeps its one row per token (and blob tokenizer 1)."""
    releases, key = release_factory(spec_v1=True)
    assert read_blob(releases.blob(1)).tokenizer_version == 1
    result = run_cycle(CONFIG, phase2_store(), releases, replay_factory(tmp_path), key,
                       MemoryAnnouncer())  # fmt: skip
    assert result.outcome == "published" and result.version == 2, result.to_dict()
    assert read_blob(releases.blob(2)).tokenizer_version == 1
    student_dir = releases.student_dir(2)
    assert student_dir is not None
    config = load_student(student_dir)[0].config
    assert (config.hashes, config.buckets) == (1, 0)


def test_gate_rejects_a_candidate_trained_on_noise(release_factory, tmp_path):
    releases, key = release_factory()
    samples, publisher = phase2_store(noise=True), MemoryAnnouncer()
    # (a 2-point margin: on noise both models score near chance, and chance must not pass)
    config = replace(CONFIG, gate=GateConfig(min_gain=0.02))
    result = run_cycle(config, samples, releases, replay_factory(tmp_path), key, publisher)

    assert result.outcome == "rejected_by_gate" and result.version is None
    assert result.reasons and publisher.published == [] and releases.versions() == [1]
    assert samples.new_count() == 0  # the same samples do not trigger the schedule again


def test_the_memory_is_bounded_replayed_and_gated_in_the_next_cycle(release_factory):
    releases, key = release_factory()
    samples = phase2_store(n=300)
    config = replace(CONFIG, memory_size=60, memory_policy="class_balanced")
    first = run_cycle(config, samples, releases, None, key, MemoryAnnouncer())
    assert first.outcome == "published" and first.metrics["train_memory"] == 0
    # the store keeps a class-balanced memory of 60, nothing else
    assert first.metrics["memory_kept"] == 60 and samples.count() == 60
    assert len({s.label for s in samples.memory()}) == len(PHASE2)
    assert first.metrics["memory_forgotten"] == 240
    # release 2's traffic: phase 1; release 1's samples are now earlier traffic
    samples.add(labeled(examples(1, "train")[:200], PHASE2, seed=2, prefix="n", version=2))
    second = run_cycle(config, samples, releases, None, key, MemoryAnnouncer())
    m = second.metrics
    assert m["samples_since_last_cycle"] == 200 and m["train_memory"] > 0
    assert m["gate_memory_holdout"] >= 5  # held-out earlier samples, scored for both releases
    assert 0 <= m["gate_memory_accuracy_old"] <= 1
    assert samples.count() <= 60


def test_samples_of_a_rejected_cycle_still_count_for_the_same_release(release_factory):
    releases, key = release_factory()
    samples = phase2_store(n=30)  # too few held out to decide
    rejected = run_cycle(CONFIG, samples, releases, None, key, MemoryAnnouncer())
    assert rejected.outcome == "rejected_by_gate" and "held-out" in rejected.reasons[0]
    samples.add(labeled(examples(2, "train")[30:300], PHASE2, seed=1, prefix="n"))
    result = run_cycle(CONFIG, samples, releases, None, key, MemoryAnnouncer())
    # the 30 earlier samples are release 1's traffic too: trained and held out again, not
    # replayed as earlier traffic
    assert result.metrics["samples_since_last_cycle"] == 270
    assert result.metrics["train_new"] + result.metrics["gate_holdout"] == 300
    assert result.metrics["train_memory"] == 0


def test_step_cap_and_no_replay(release_factory):
    releases, key = release_factory()
    result = run_cycle(CONFIG, phase2_store(), releases, None, key, MemoryAnnouncer(), max_steps=3)
    assert result.metrics["train_steps"] == 3 and result.metrics["train_replay"] == 0
    assert "gate_replay_accuracy_old" not in result.metrics


def test_refuses_corrupt_or_missing_store_entries(release_factory, tmp_path):
    releases, key = release_factory()
    with pytest.raises(CycleError, match="no new labeled samples"):
        run_cycle(CONFIG, MemorySampleStore(), releases, None, key, MemoryAnnouncer())
    with pytest.raises(CycleError, match="no release"):
        empty = ReleaseStore(tmp_path / "empty")
        run_cycle(CONFIG, phase2_store(), empty, None, key, MemoryAnnouncer())

    blob = releases.root / "1" / "model.blob"
    good = blob.read_bytes()
    blob.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(CycleError, match="refused"):
        run_cycle(CONFIG, phase2_store(), releases, None, key, MemoryAnnouncer())
    blob.write_bytes(good)

    other, _ = release_factory("other")  # a release signed by someone else
    with pytest.raises(CycleError, match="refused"):
        run_cycle(CONFIG, phase2_store(), other, None, key, MemoryAnnouncer())

    shutil.rmtree(releases.root / "1" / "student")
    with pytest.raises(CycleError, match="no float student"):
        run_cycle(CONFIG, phase2_store(), releases, None, key, MemoryAnnouncer())


def test_a_failed_publish_keeps_the_stored_release(release_factory):
    releases, key = release_factory()
    samples = phase2_store()
    with pytest.raises(CycleError) as caught:
        run_cycle(CONFIG, samples, releases, None, key, MemoryAnnouncer(fail=True))
    assert caught.value.stored_version == 2 and releases.versions() == [1, 2]
    assert samples.new_count() > 0  # not done: the service publishes it again


def test_the_reference_profile_is_the_current_traffic_when_it_can_be_read(release_factory):
    from services.distiller.traffic import TrafficError
    from services.releases.profile import reference_profile

    traffic = [text for text, _ in examples(2, "test")[:200]]
    releases, key = release_factory()
    publisher = MemoryAnnouncer()
    result = run_cycle(
        CONFIG, phase2_store(), releases, None, key, publisher, traffic=lambda: traffic
    )
    (manifest,) = publisher.published
    expected, _ = reference_profile(releases.blob(2), traffic)
    assert manifest.reference_profile == expected
    assert result.metrics["profile_from_traffic"] == 1.0
    assert result.metrics["profile_texts"] == 200

    def unreachable() -> list[str]:
        raise TrafficError("Kafka is away")

    releases, key = release_factory("second")
    result = run_cycle(
        CONFIG, phase2_store(), releases, None, key, MemoryAnnouncer(), traffic=unreachable
    )
    assert result.outcome == "published"  # the held-out samples stand in
    assert result.metrics["profile_from_traffic"] == 0.0
