"""Kafka's authentication and ACLs on a private broker (production topic names, so writes
there touch no one): every service principal writes and reads exactly what
``services.security.kafka_acls`` allows, a refused write for every rule; wrong credentials and
clients that do not speak SASL over TLS get nothing."""

from __future__ import annotations

import logging
import socket
import ssl
import time

import pytest

from contract.topics import TOPIC_NAMES
from services.kafka_clients import client_config
from services.security.access import Access
from services.security.kafka_acls import SERVICE_GRANTS, allowed

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def private(module_private_stack_factory):
    """One broker for the module: the tests read and write it, none stops or breaks it."""
    stack = module_private_stack_factory(("kafka",))
    if not stack.settings.security.tls:
        pytest.skip("the stack runs the open development listener (security.tls = false)")
    return stack


def _writes(access, topics: list[str]) -> dict[str, bool]:
    from kafka.errors import TopicAuthorizationFailedError

    producer = access.producer(  # (not idempotent: a principal without any WRITE gets no
        acks="all", enable_idempotence=False,  # producer id at all, not per topic answers)
        max_block_ms=30_000, request_timeout_ms=30_000,
    )  # fmt: skip
    outcome = {}
    try:
        for topic in topics:
            try:
                producer.send(topic, key=b"acl-test", value=b"{}").get(timeout=60)
                outcome[topic] = True
            except TopicAuthorizationFailedError:
                outcome[topic] = False
    finally:
        producer.close(timeout=10)
    return outcome


def _reads(access, topics: list[str], wait_s: float = 10.0) -> dict[str, bool]:
    """Whether the record every topic holds by now (the writes' test record) can be fetched:
    a refused read raises (no DESCRIBE either) or never gets it (a writer without READ)."""
    from kafka import TopicPartition
    from kafka.errors import TopicAuthorizationFailedError

    outcome = {}
    for topic in topics:
        consumer = access.consumer(group_id=None, enable_auto_commit=False)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or {0}]
        got = False
        try:
            consumer.end_offsets(parts)
            consumer.assign(parts)
            consumer.seek_to_beginning()
            deadline = time.monotonic() + wait_s
            while not got and time.monotonic() < deadline:
                got = bool(consumer.poll(timeout_ms=1000))
        except TopicAuthorizationFailedError:
            pass
        finally:
            consumer.close()
        outcome[topic] = got
    return outcome


def test_every_principal_writes_and_reads_only_what_the_policy_allows(private):
    access = Access(private.settings)
    topics = list(TOPIC_NAMES.values())
    writes = {account: _writes(access.kafka(account), topics) for account in SERVICE_GRANTS}
    for account, outcome in writes.items():
        expected = {t: allowed(account, "topic", t, "WRITE") for t in topics}
        assert outcome == expected, account
    # the rules as the operator knows them, each with its refusals
    writers = {t: sorted(a for a in writes if writes[a][t]) for t in topics}
    assert writers["ops.commands"] == ["control"]  # the gateway cannot, nor anyone else
    assert writers["model.releases"] == ["distiller", "rollout"]  # rollbacks roll forward
    assert writers["fleet.predictions"] == ["gateway"]
    assert writers["fleet.device-status"] == ["gateway"]
    assert writers["distill.label-requests"] == ["processor"]
    assert writers["distill.labeled"] == ["labeler"]
    assert writers["distill.label-requests.dlq"] == ["labeler"]
    assert writers["model.rollouts"] == ["rollout"]
    assert not any(writes["monitor"].values())
    reads = {account: _reads(access.kafka(account), topics) for account in SERVICE_GRANTS}
    for account, outcome in reads.items():
        expected = {t: allowed(account, "topic", t, "READ") for t in topics}
        assert outcome == expected, account
    assert not any(reads["gateway"].values())  # the device-facing service reads nothing


def test_a_principal_cannot_join_another_services_consumer_group(private):
    from kafka.errors import GroupAuthorizationFailedError

    access = Access(private.settings)
    own = access.kafka("labeler").consumer(
        TOPIC_NAMES["label_requests"], group_id="fleet-labeler-acl-test",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    try:
        own.poll(timeout_ms=5000)  # joins its own group: no error
    finally:
        own.close()
    other = access.kafka("labeler").consumer(
        TOPIC_NAMES["label_requests"], group_id="fleet-rollout", enable_auto_commit=False
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            for _ in range(10):
                other.poll(timeout_ms=3000)
    finally:
        other.close()


def _refusal(access) -> str | None:
    """What the broker tells a librdkafka client of ``access``: the authentication error, or
    None when it answers a metadata request (kafka-python only times out on a refusal)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list = []
    client = AdminClient(
        client_config(access, "fleet-acl-test", error_cb=errors.append, logger=log)
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        refused = [e.str() for e in errors if e.code() == KafkaError._AUTHENTICATION]
        if refused:
            return refused[0]
        try:
            client.list_topics(timeout=2)
            return None
        except KafkaException:
            client.poll(0.2)
    raise AssertionError(f"neither refused nor answered within 60 s: {errors}")


def test_wrong_secrets_another_ca_and_plain_clients_get_nothing(private, tmp_path):
    from kafka.errors import KafkaError
    from pydantic import SecretStr

    from services.security.pki import ensure_pki

    gateway = Access(private.settings).kafka("gateway")
    assert _refusal(gateway) is None
    wrong_secret = gateway.model_copy(update={"password": SecretStr("not-the-secret")})
    assert "invalid credentials" in (_refusal(wrong_secret) or "")  # SCRAM
    as_admin = gateway.model_copy(update={"username": "admin", "mechanism": "PLAIN"})
    assert "Invalid username or password" in (_refusal(as_admin) or "")  # PLAIN
    plain = gateway.model_copy(update={"password": None})  # no SASL, no TLS
    with pytest.raises(KafkaError):
        plain.admin(request_timeout_ms=5_000, bootstrap_timeout_ms=5_000).list_topics()
    # a client that trusts another CA does not accept the broker's certificate (a TLS
    # handshake of its own: kafka-python leaves the socket of a failed handshake open)
    other = gateway.model_copy(update={"cafile": ensure_pki(tmp_path / "pki", "127.0.0.1").ca_cert})
    host, port = gateway.bootstrap.rsplit(":", 1)
    context = other.ssl_context()
    assert context is not None
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname=host).close()
    with socket.create_connection((host, int(port)), timeout=10) as raw:  # the stack's CA
        context = gateway.ssl_context()
        assert context is not None
        context.wrap_socket(raw, server_hostname=host).close()
