"""Start the labeler on given topics (integration tests and benchmarks)."""

from __future__ import annotations

import uuid

from benchmarks.harness.service_process import ServiceProcess, free_port


def labeler_process(requests: str, labeled: str, tmp_path, **settings) -> ServiceProcess:
    port = free_port()
    values = {
        "group_id": f"test-labeler-{uuid.uuid4().hex[:8]}",
        "requests_topic": requests,
        "labeled_topic": labeled,
        "batch_size": 16,
        "backlog_every_s": 0.5,
        "metrics_port": port,
        **settings,
    }
    env = {f"FLEET_LABELER_{k.upper()}": str(v) for k, v in values.items()}
    return ServiceProcess(["labeler", "run"], env, tmp_path / "labeler.log", port)
