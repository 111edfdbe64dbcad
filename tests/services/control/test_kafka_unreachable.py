"""``fleet control run`` with no broker behind its bootstrap address: commands get 503 (not
a hang, not a 202), reads say why, the page still renders from the release store."""

from __future__ import annotations

from benchmarks.harness.service_process import free_port
from services.control.auth import read_token
from tests.services.control.harness import control_process, http, signed_in_page


def test_no_broker_means_503_and_the_page_says_why(stack, tmp_path) -> None:
    # (``stack``: the account secrets its Kafka client is made with; the broker is elsewhere)
    proc = control_process(
        tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}", ack_timeout_s=1, read_timeout_s=1
    ).start()
    try:
        proc.wait_for(lambda: bool(proc.metrics()), "the control API to serve")
        token = read_token(tmp_path / "keys" / "ops.token")  # created on first start
        status, answer = http(proc.metrics_port, "POST", "/api/v1/halt", {}, token)
        assert status == 503 and "not stored" in answer["error"]
        assert proc.value("fleet_control_commands_total", command="halt", outcome="unavailable")
        assert not proc.value("fleet_control_commands_total", command="halt", outcome="accepted")
        read = read_token(tmp_path / "keys" / "read.token")
        assert http(proc.metrics_port, "GET", "/api/v1/commands", token=read)[0] == 503
        status, answer = http(proc.metrics_port, "GET", "/api/v1/releases", token=read)
        assert status == 200 and answer["releases"] == [] and answer["published_error"]
        status, page = signed_in_page(proc.metrics_port, read)
        assert status == 200 and 'class="error">ops.commands:' in page
        assert 'class="error">model.rollouts:' in page and "did not answer" in page
    finally:
        assert proc.stop() == 0, proc.tail()
