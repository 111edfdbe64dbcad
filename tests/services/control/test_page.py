"""The ops page on in-memory doubles: sign-in, the console's parts, commands through a form
with a confirmation step, and the alert webhook."""

from __future__ import annotations

import json
import re

from contract.schemas.rollout import RolloutEvent, RolloutRecord, StageCriteria, StageState
from services.control.charts import Marker, line_chart, rollout_timeline
from services.control.releases import MemoryReleaseFeed
from services.control.service import Control
from services.releases.store import ReleaseStore
from tests.services.control.conftest import (
    ALERTS_TOKEN,
    READ_TOKEN,
    TOKEN,
    Answer,
    auth,
    call,
    calls,
    read_auth,
    release,
)


def rollout_record(version: int, t0: float = 1_700_000_000.0) -> RolloutRecord:
    """A rollout whose canary passed (2 confirmed) and whose fleet stage is baking."""
    canary = StageState(
        group="canary", criteria=StageCriteria(bake_s=20), status="passed", started_at=t0,
        met_at=t0 + 2, finished_at=t0 + 22, population=["dev-0001", "dev-0002"],
        outcomes={"dev-0001": "confirmed", "dev-0002": "confirmed"},
    )  # fmt: skip
    fleet = StageState(
        group="fleet", criteria=StageCriteria(min_confirmed=0.9), status="baking",
        started_at=t0 + 22, met_at=t0 + 30, population=["sim-0000", "sim-0001", "sim-0002"],
        outcomes={"sim-0000": "confirmed", "sim-0001": "confirmed", "sim-0002": "reverted"},
    )  # fmt: skip
    return RolloutRecord(
        version=version, weights_of=version, status="in_progress", stage=1,
        stages=[canary, fleet], created_at=t0, updated_at=t0 + 30,
        history=[RolloutEvent(ts=t0, event="stage_started", detail="stage 0: canary")],
    )  # fmt: skip


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def _signed_in(control: Control, token: str, *then: tuple[str, str, dict]) -> list[Answer]:
    return calls(control, [("POST", "/login", {"data": {"token": token}}), *then])


def test_without_a_session_the_page_asks_for_a_token(control_factory) -> None:
    control = control_factory()
    page = call(control, "GET", "/")
    assert page.status == 200 and 'action="/login"' in page.text and "csrf" not in page.text
    refused = call(control, "POST", "/login", data={"token": "wrong"})
    assert refused.status == 401 and 'id="refusal"' in refused.text and "refused" in refused.text


def test_sign_in_sets_a_strict_http_only_cookie_and_never_echoes_the_token(
    control_factory,
) -> None:
    control = control_factory()
    login, page = _signed_in(control, TOKEN, ("GET", "/", {}))
    assert login.status == 303 and login.headers["Location"] == "/"
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert page.status == 200 and "Fleet control" in page.text and TOKEN not in page.text
    for kind in ("redistill", "rollout", "halt", "rollback"):
        assert f'action="/ops/{kind}"' in page.text
    assert 'name="token"' not in page.text  # forms carry the session's CSRF value, not a token


def test_read_sessions_see_everything_but_cannot_send(control_factory) -> None:
    control = control_factory()
    _, page, refused = _signed_in(
        control,
        READ_TOKEN,
        ("GET", "/", {}),
        ("POST", "/ops/halt", {"data": {"csrf": "x", "confirm": "yes"}}),
    )
    assert page.status == 200 and 'action="/ops/halt"' not in page.text
    assert "read token" in page.text
    assert refused.status == 401 and control.sink.commands == []


def test_a_form_command_is_confirmed_then_sent_and_shown_with_the_answer(control_factory) -> None:
    control = control_factory()
    _, page = _signed_in(control, TOKEN, ("GET", "/", {}))
    csrf = _csrf(page.text)
    form = {"version": "5", "groups": " canary , eu-west,", "canary_fraction": "",
            "reason": "new release", "operator": "bob", "csrf": csrf}  # fmt: skip
    _, confirm = _signed_in(control, TOKEN, ("POST", "/ops/rollout", {"data": form}))
    # a new client has a new session: its CSRF value differs, so the form is refused
    assert confirm.status == 401 and control.sink.commands == []

    # one client all the way: sign in, page, form, confirmation, the page with the answer
    _one_client_flow(control, form)


def _one_client_flow(control: Control, form: dict) -> object:
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from services.control.service import create_app

    async def go() -> object:
        async with TestClient(TestServer(create_app(control))) as client:
            await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
            page = await (await client.get("/")).text()
            fields = {**form, "csrf": _csrf(page)}
            confirm = await client.post("/ops/rollout", data=fields, allow_redirects=False)
            text = await confirm.text()
            assert confirm.status == 200 and 'id="confirm"' in text
            assert "version=5, groups=canary,eu-west" in text and control.sink.commands == []
            hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', text))
            assert hidden["confirm"] == "yes"
            sent = await client.post("/ops/rollout", data=hidden, allow_redirects=False)
            assert sent.status == 303, await sent.text()
            (stored,) = control.sink.commands
            assert sent.headers["Location"] == f"/?accepted={stored.command_id}"
            assert (stored.version, stored.groups, stored.canary_fraction) == (
                5,
                ["canary", "eu-west"],
                None,
            )
            assert (stored.reason, stored.issued_by) == ("new release", "ops:bob")
            shown = await (await client.get(sent.headers["Location"])).text()
            assert "The server answered 202 Accepted" in shown and stored.command_id in shown
            # an invalid form is refused with the reason, before any confirmation
            bad = await client.post("/ops/rollout", data={"version": "x", "csrf": hidden["csrf"]})
            assert bad.status == 400 and "version: Input should be a valid integer" in (
                await bad.text()
            )
            return stored

    return asyncio.run(go())


def test_console_shows_releases_gate_signature_rollout_and_alerts(control_factory, tmp_path):
    store = ReleaseStore(tmp_path / "releases")
    manifest, blob = release(7)
    manifest = manifest.model_copy(update={"metrics": {"gate_new_accuracy_candidate": 0.964}})
    store.put(manifest, blob)
    record = rollout_record(7)
    control = control_factory(store=store, feed=MemoryReleaseFeed([manifest], [record]))
    webhook = {
        "version": "4",
        "status": "firing",
        "receiver": "control-api",
        "groupKey": '{}:{alertname="FleetDriftHigh"}',
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "FleetDriftHigh", "model_version": "7", "severity": "warn"},
                "annotations": {"summary": "<b>drift</b> on v7"},
                "startsAt": "2026-01-01T00:00:00Z",
                "fingerprint": "abc123",
            }
        ],
    }
    assert call(control, "POST", "/api/v1/alerts", json=webhook).status == 401
    assert call(control, "POST", "/api/v1/alerts", json=webhook, headers=auth()).status == 401
    bad = call(control, "POST", "/api/v1/alerts", json={"x": 1}, headers=auth(ALERTS_TOKEN))
    assert bad.status == 400 and "Alertmanager v4 webhook" in bad.text
    ok = call(control, "POST", "/api/v1/alerts", json=webhook, headers=auth(ALERTS_TOKEN))
    assert ok.status == 200 and json.loads(ok.text) == {"received": 1}
    (alert,) = json.loads(call(control, "GET", "/api/v1/alerts", headers=read_auth()).text)[
        "alerts"
    ]
    assert (alert["name"], alert["state"], alert["labels"]["model_version"]) == (
        "FleetDriftHigh",
        "firing",
        "7",
    )
    _, page = _signed_in(control, TOKEN, ("GET", "/", {}))
    text = page.text
    assert "FleetDriftHigh" in text and "&lt;b&gt;drift&lt;/b&gt;" in text
    assert manifest.sha256[:12] in text and "new_accuracy_candidate=0.964" in text
    assert 'id="rollout-timeline"' in text and "unsigned" in text
    assert text.count('class="chart"') >= 4  # three metric charts and the timeline
    assert "no Prometheus configured" in text  # the charts say why they are empty


def test_line_chart_counts_its_points_and_draws_markers() -> None:
    svg = line_chart(
        "c", "PSI <1>", {"v1": [(10, 0.1), (20, 0.3)], "v2": [(30, 0.05)]}, 0, 40,
        [Marker(25, "v2")],
    )  # fmt: skip
    assert 'data-points="3"' in svg and svg.count("<polyline") == 2
    assert 'class="marker"' in svg and "PSI &lt;1&gt;" in svg
    empty = line_chart("e", "nothing", {}, 0, 40)
    assert 'data-points="0"' in empty and "no data" in empty


def test_rollout_timeline_shows_each_stage_and_its_outcomes() -> None:
    record = rollout_record(3)
    from services.status.report import rollout_part

    part = rollout_part(lambda: [record])
    svg = rollout_timeline(vars(part), record.updated_at + 10)
    for stage in record.stages:
        assert stage.group in svg
