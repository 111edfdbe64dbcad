"""The demo's loop pieces without the stack: reading the new release, its rollout and the
devices' confirmations back from records; the timeline; the corpus oracle behind the labeler's
real chat-completions client; which registry accounts the demo's devices use."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.schemas import DeviceStatus, OtaProgress, examples
from contract.schemas.rollout import RolloutEvent, RolloutRecord, StageCriteria, StageState
from contract.signing import sign
from models.teacher.llm import ChatLabeler, LLMConfig
from services.demo.devices import demo_accounts
from services.demo.loop import LoopResult, read_back, timeline
from services.demo.oracle import MODEL, CorpusOracle, gold_labels
from services.errors import ServiceError
from services.releases.keys import public_bytes
from services.stack.registry import Registry

TOPICS = {"releases": "r", "rollouts": "o", "status": "s"}
T0 = 1_700_000_000.0


def _status(device: str, version: int, step: str, ts: float) -> bytes:
    ota = OtaProgress(release_version=version, step=step, progress=1.0)  # type: ignore[arg-type]
    return DeviceStatus(
        device_id=device, kind="ota", ts=ts, model_version=version - 1,
        firmware_version="1.0.0", uptime_s=5, ota=ota,
    ).to_bytes()  # fmt: skip


def _record(version: int, status: str, history: list[tuple[float, str, str]]) -> bytes:
    stages = [StageState(group=g, criteria=StageCriteria()) for g in ("canary", "fleet")]
    return RolloutRecord(
        version=version, weights_of=version, status=status, stages=stages,  # type: ignore[arg-type]
        created_at=T0, updated_at=T0,
        history=[RolloutEvent(ts=ts, event=e, detail=d) for ts, e, d in history],
    ).to_bytes()  # fmt: skip


def test_read_back_finds_the_signed_release_its_last_record_and_each_confirmation():
    key = Ed25519PrivateKey.generate()
    created = datetime.fromtimestamp(T0 + 0.5, tz=UTC)
    ours = sign(examples.release_manifest(version=8).model_copy(update={"created": created}), key)
    older = sign(examples.release_manifest(version=7), key)
    records = {
        "r": [older.to_bytes(), ours.to_bytes()],
        "o": [
            _record(8, "in_progress", [(T0 + 1, "stage_started", "stage 0: canary")]),
            _record(
                8,
                "completed",
                [
                    (T0 + 1, "stage_started", "stage 0: canary"),
                    (T0 + 3, "stage_passed", "canary"),
                    (T0 + 3, "stage_started", "stage 1: fleet"),
                    (T0 + 9, "completed", ""),
                ],
            ),
            _record(7, "completed", []),
        ],
        "s": [
            _status("dev-0001", 8, "downloading", T0 + 1.5),
            _status("dev-0001", 8, "confirmed", T0 + 2),
            _status("dev-0001", 8, "confirmed", T0 + 20),  # a redelivery: the first one counts
            _status("sim-0000", 8, "confirmed", T0 + 6),
            _status("sim-0001", 8, "rejected", T0 + 6),
            _status("sim-0002", 7, "confirmed", T0 + 6),  # another release
            _status("dev-0009", 8, "confirmed", T0 + 6),  # not one of the demo's devices
        ],
    }
    result = LoopResult(version=8, redistill_at=T0)
    devices = {"dev-0001", "sim-0000", "sim-0001", "sim-0002"}
    read_back(records, TOPICS, result, devices, public_bytes(key))

    assert result.manifest is not None and result.manifest.version == 8
    assert result.signed
    assert result.rollout is not None and result.rollout.status == "completed"
    assert result.confirmed_at == {"dev-0001": T0 + 2, "sim-0000": T0 + 6}

    assert [(name, ts - T0) for name, ts in timeline(result)] == [
        ("ops redistill accepted", 0.0),
        ("release v8 published", 0.5),
        ("rollout stage_started stage 0: canary", 1.0),
        ("first device confirmed", 2.0),
        ("rollout stage_passed canary", 3.0),
        ("rollout stage_started stage 1: fleet", 3.0),
        ("all 2 devices confirmed", 6.0),
        ("rollout completed", 9.0),
    ]

    foreign = LoopResult(version=8)
    other_key = public_bytes(Ed25519PrivateKey.generate())
    read_back(records, TOPICS, foreign, devices, other_key)
    assert foreign.manifest is not None and not foreign.signed


def test_corpus_oracle_answers_gold_labels_through_the_labelers_chat_client(tmp_path):
    for phase, rows in {
        "phase0": [("货已签收", "已签收")],
        "phase2": [("请拦截包裹", "拦截")],
    }.items():
        (tmp_path / phase).mkdir()
        lines = [json.dumps({"text": t, "label": label}, ensure_ascii=False) for t, label in rows]
        (tmp_path / phase / "test.jsonl").write_text("\n".join(lines), encoding="utf-8")
    gold = gold_labels(tmp_path)
    assert gold == {"货已签收": "已签收", "请拦截包裹": "拦截"}
    oracle = CorpusOracle(gold)
    try:
        assert oracle.teacher == f"llm:{oracle.url}#{MODEL}"
        chat = ChatLabeler(LLMConfig(base_url=oracle.url, model=MODEL), oracle.labels)
        assert chat.label_many(["请拦截包裹", "货已签收"]) == ["拦截", "已签收"]
        assert (oracle.answered, oracle.unknown) == (2, 0)
        assert chat.label("not in the corpus") in oracle.labels  # answered, and counted
        assert oracle.unknown == 1
    finally:
        oracle.close()
    with pytest.raises(ServiceError, match="no labeled texts"):
        gold_labels(tmp_path / "empty")


def _registry(canary: int, simulated: int) -> Registry:
    devices = [{"id": f"dev-{i:04d}", "group": "canary"} for i in range(1, canary + 1)]
    return Registry.model_validate({
        "groups": {"canary": "first", "fleet": "the rest"},
        "devices": devices,
        "simulated": {"count": simulated, "prefix": "sim", "group": "fleet"},
    })  # fmt: skip


def test_demo_devices_are_canary_accounts_then_simulator_accounts():
    accounts = demo_accounts(_registry(canary=3, simulated=5), devices=6, canary=2)
    assert [(a.id, a.group) for a in accounts] == [
        ("dev-0001", "canary"), ("dev-0002", "canary"),
        ("sim-0000", "fleet"), ("sim-0001", "fleet"), ("sim-0002", "fleet"),
        ("sim-0003", "fleet"),
    ]  # fmt: skip
    with pytest.raises(ServiceError, match="canary group has 1"):
        demo_accounts(_registry(canary=1, simulated=5), devices=4, canary=2)
    with pytest.raises(ServiceError, match="fleet devices provision --count 7"):
        demo_accounts(_registry(canary=2, simulated=5), devices=9, canary=2)
