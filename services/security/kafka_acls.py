"""Who may do what on Kafka: one principal per service, allowed only its own topics.

The table below is the whole policy; ``fleet stack up`` makes the cluster's ACLs (the KRaft
``StandardAuthorizer``, nothing allowed without an ACL) equal to it, and
``tests/integration/test_kafka_acls.py`` checks every write it allows and refuses. A service
that starts reading or writing another topic needs a line here.

The broker and ``admin`` (the stack's own tools: topic creation, ACLs, SCRAM credentials;
also the tests, the demo's bookkeeping and the benchmarks) are super users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contract.topics import TOPIC_NAMES

Resource = Literal["topic", "group"]
Operation = Literal["READ", "WRITE", "CREATE", "ALL"]

BROKER, ADMIN = "broker", "admin"
SUPER_USERS = (BROKER, ADMIN)


@dataclass(frozen=True)
class Grant:
    resource: Resource
    name: str
    operation: Operation
    prefixed: bool = False  # the name is a prefix (consumer groups, faust's own topics)

    def covers(self, resource: Resource, name: str, operation: Operation) -> bool:
        matches = name.startswith(self.name) if self.prefixed else name == self.name
        return (
            self.resource == resource
            and matches
            and (self.operation == operation or self.operation == "ALL")
        )


def _topics(operation: Operation, *fields: str) -> tuple[Grant, ...]:
    return tuple(Grant("topic", TOPIC_NAMES[f], operation) for f in fields)


def _group(prefix: str) -> Grant:
    """Consumer groups whose name starts with ``prefix`` (e.g. the demo's ``-demo`` ones)."""
    return Grant("group", prefix, "READ", prefixed=True)


# READ implies DESCRIBE (metadata, offsets); WRITE lets a producer be idempotent.
SERVICE_GRANTS: dict[str, tuple[Grant, ...]] = {
    # MQTT -> Kafka: device traffic and its dead letters, nothing else
    "gateway": _topics("WRITE", "predictions", "device_status", "predictions_dlq"),
    # faust app "fleet-processor*": its consumer group and its own internal topics
    "processor": (
        *_topics("READ", "predictions", "releases"),
        *_topics("WRITE", "label_requests"),
        Grant("topic", "fleet-processor", "ALL", prefixed=True),
        _group("fleet-processor"),
    ),
    # labels, and the requests it gave up on; both read back on start (done requests)
    "labeler": (
        *_topics("READ", "label_requests", "labeled", "label_dlq"),
        *_topics("WRITE", "labeled", "label_dlq"),
        _group("fleet-labeler"),
    ),
    "distiller": (
        *_topics("READ", "labeled", "ops_commands", "predictions", "releases"),
        *_topics("WRITE", "releases"),
        _group("fleet-distiller"),
    ),
    # rollbacks are new releases (roll-forward), so the manager writes model.releases too
    "rollout": (
        *_topics("READ", "releases", "device_status", "ops_commands", "rollouts"),
        *_topics("WRITE", "rollouts", "releases"),
        *_topics("CREATE", "rollouts"),
        _group("fleet-rollout"),
    ),
    # the only writer of ops commands; reads them back, the releases and rollouts for its page
    "control": (
        *_topics("WRITE", "ops_commands"),
        *_topics("READ", "ops_commands", "releases", "rollouts"),
    ),
    # read-only views: `fleet status`, `fleet rollout status`, the demo's summary
    "monitor": _topics("READ", *TOPIC_NAMES),
}

KAFKA_ACCOUNTS: tuple[str, ...] = (*SUPER_USERS, *SERVICE_GRANTS)


def allowed(account: str, resource: Resource, name: str, operation: Operation) -> bool:
    """What the policy says (super users may do anything)."""
    if account in SUPER_USERS:
        return True
    return any(g.covers(resource, name, operation) for g in SERVICE_GRANTS.get(account, ()))
