"""The control API on in-memory doubles: commands in, validation, auth, reads, page, metrics."""

from __future__ import annotations

import json
import time

import pytest

from contract.schemas.ops import Halt, Redistill, Rollback, Rollout
from contract.signing import sign
from services.control.releases import MemoryReleaseFeed
from services.control.sink import MemoryCommandSink
from services.releases.keys import load_or_create_key, public_bytes
from services.releases.store import ReleaseStore
from tests.services.control.conftest import TOKEN, auth, call, read_auth, release

VALID = {
    "redistill": ({"max_steps": 200, "reason": "drift on v3"}, Redistill),
    "rollout": ({"version": 4, "groups": ["canary", "eu-west"], "canary_fraction": 0.1}, Rollout),
    "halt": ({"version": 4}, Halt),
    "rollback": ({"to_version": 3, "groups": ["canary"]}, Rollback),
}


def _count(control, command: str, outcome: str) -> float:
    return control.metrics.commands.labels(command, outcome)._value.get()


@pytest.mark.parametrize("kind", list(VALID))
def test_valid_command_is_stored_before_the_202(control_factory, kind) -> None:
    body, model = VALID[kind]
    control = control_factory()
    before = time.time()
    answer = call(control, "POST", f"/api/v1/{kind}", json=body, headers=auth())
    assert answer.status == 202, answer.text
    (stored,) = control.sink.commands
    assert isinstance(stored, model)
    reply = json.loads(answer.text)
    assert reply["command_id"] == stored.command_id and reply["command"]["command"] == kind
    assert stored.model_dump(include=set(body)) == body
    assert stored.issued_by == "ops" and before <= stored.ts <= time.time()
    assert _count(control, kind, "accepted") == 1
    assert _count(control, kind, "invalid") == 0


def test_each_command_gets_its_own_id_and_the_named_operator(control_factory) -> None:
    control = control_factory()
    for _ in range(3):
        headers = auth(**{"X-Fleet-Operator": "alice"})
        assert call(control, "POST", "/api/v1/halt", json={}, headers=headers).status == 202
    assert len({c.command_id for c in control.sink.commands}) == 3
    assert {c.issued_by for c in control.sink.commands} == {"ops:alice"}


@pytest.mark.parametrize(
    "headers",
    [{}, auth("wrong"), {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"}],
    ids=["none", "wrong", "basic", "empty"],
)
def test_commands_without_the_token_are_refused(control_factory, headers) -> None:
    control = control_factory()
    answer = call(control, "POST", "/api/v1/rollout", json={"version": 2}, headers=headers)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "token" in json.loads(answer.text)["error"]
    assert control.sink.commands == []
    assert _count(control, "rollout", "unauthorized") == 1


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        ("rollout", {}, "version: Field required"),
        ("rollout", {"version": -1}, "version: Input should be greater than or equal to"),
        ("rollout", {"version": 2, "groups": ["a/b"]}, "groups.0: String should match"),
        ("rollout", {"version": 2, "canary_fraction": 1.5}, "canary_fraction"),
        ("redistill", {"max_steps": 10, "epochs": 3}, "epochs: Extra inputs are not permitted"),
        ("halt", {"command_id": "mine"}, "command_id: assigned by the server"),
        ("halt", {"command": "rollout"}, "sent to the halt endpoint"),
        ("rollback", {"reason": "x" * 501}, "reason: String should have at most 500"),
    ],
)
def test_invalid_commands_get_400_with_the_reason(control_factory, kind, body, reason) -> None:
    control = control_factory()
    answer = call(control, "POST", f"/api/v1/{kind}", json=body, headers=auth())
    assert answer.status == 400
    assert reason in json.loads(answer.text)["error"]
    assert control.sink.commands == []
    assert _count(control, kind, "invalid") == 1


@pytest.mark.parametrize(
    ("data", "reason"), [(b"{not json", "not JSON"), (b"[1, 2]", "JSON object, got list")]
)
def test_bodies_that_are_not_objects_are_400(control_factory, data, reason) -> None:
    control = control_factory()
    headers = auth(**{"Content-Type": "application/json"})
    answer = call(control, "POST", "/api/v1/redistill", data=data, headers=headers)
    assert answer.status == 400 and reason in json.loads(answer.text)["error"]


def test_an_empty_body_takes_every_default_and_a_bad_operator_is_400(control_factory) -> None:
    control = control_factory()
    assert call(control, "POST", "/api/v1/redistill", headers=auth()).status == 202
    assert control.sink.commands[0].max_steps is None
    answer = call(control, "POST", "/api/v1/redistill", headers=auth(**{"X-Fleet-Operator": "a b"}))
    assert answer.status == 400 and "operator" in answer.text


def test_unknown_command_is_404(control_factory) -> None:
    control = control_factory()
    assert call(control, "POST", "/api/v1/reboot", json={}, headers=auth()).status == 404


def test_kafka_unavailable_is_503_and_nothing_claims_success(control_factory) -> None:
    sink = MemoryCommandSink()
    sink.unavailable = True
    control = control_factory(sink=sink)
    answer = call(control, "POST", "/api/v1/halt", json={}, headers=auth())
    assert answer.status == 503 and "not stored" in json.loads(answer.text)["error"]
    assert _count(control, "halt", "unavailable") == 1
    assert _count(control, "halt", "accepted") == 0
    assert call(control, "GET", "/api/v1/commands", headers=read_auth()).status == 503


def test_recent_commands_newest_first_with_a_limit(control_factory) -> None:
    control = control_factory()
    for version in range(1, 8):
        body = {"version": version}
        assert call(control, "POST", "/api/v1/halt", json=body, headers=auth()).status == 202
    listed = call(control, "GET", "/api/v1/commands", headers=read_auth())
    assert [c["version"] for c in json.loads(listed.text)["commands"]] == [7, 6, 5, 4, 3]
    listed = call(control, "GET", "/api/v1/commands?limit=2", headers=auth())
    assert [c["version"] for c in json.loads(listed.text)["commands"]] == [7, 6]
    for bad in ("0", "6", "x"):
        answer = call(control, "GET", f"/api/v1/commands?limit={bad}", headers=read_auth())
        assert answer.status == 400


def test_releases_join_the_store_and_the_published_manifests(control_factory, tmp_path) -> None:
    store = ReleaseStore(tmp_path / "releases")
    key = load_or_create_key(tmp_path / "keys")
    one, blob = release(1)
    store.put(sign(one, key), blob)
    two, blob = release(2)
    store.put(two, blob)
    three, _ = release(3)  # published, its blob not (yet) in this store
    feed = MemoryReleaseFeed([sign(one, key), sign(three, key)])
    control = control_factory(store=store, feed=feed, public_key=public_bytes(key))
    answer = json.loads(call(control, "GET", "/api/v1/releases", headers=read_auth()).text)
    rows = {r["version"]: r for r in answer["releases"]}
    assert [r["version"] for r in answer["releases"]] == [3, 2, 1]
    assert answer["published_error"] is None
    assert (rows[1]["stored"], rows[1]["published"], rows[1]["verified"]) == (True, True, True)
    assert (rows[2]["stored"], rows[2]["published"], rows[2]["signed"]) == (True, False, False)
    assert (rows[3]["stored"], rows[3]["current"], rows[1]["current"]) == (False, True, False)
    assert rows[1]["sha256"] == one.sha256 and rows[1]["metrics"] == one.metrics

    feed.unavailable = True
    answer = json.loads(call(control, "GET", "/api/v1/releases", headers=read_auth()).text)
    assert [r["version"] for r in answer["releases"]] == [2, 1]
    assert {r["published"] for r in answer["releases"]} == {None}
    assert "unavailable" in answer["published_error"]


def test_metrics_export_every_command_and_outcome(control_factory) -> None:
    control = control_factory()
    call(control, "POST", "/api/v1/halt", json={}, headers=auth())
    text = call(control, "GET", "/metrics").text
    assert 'fleet_control_commands_total{command="halt",outcome="accepted"} 1.0' in text
    assert 'fleet_control_commands_total{command="rollback",outcome="unavailable"} 0.0' in text
    assert "fleet_control_ack_seconds_count 1.0" in text
