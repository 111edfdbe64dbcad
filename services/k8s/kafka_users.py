"""Strimzi KafkaUsers: one SCRAM-SHA-512 principal per service with the ACLs of the local
stack's policy (:data:`services.security.kafka_acls.SERVICE_GRANTS`, the one source of both).

A user's password is not Strimzi's random one but the service's secret from the cluster's
secrets file (``fleet k8s secrets`` puts it into the Secret ``fleet-kafka-<service>``, key
``password``, and into the service's own ``accounts.json``), so the services log in exactly
as they do on the local stack."""

from __future__ import annotations

from services.k8s.manifests import KAFKA_CLUSTER, Obj
from services.security.kafka_acls import SERVICE_GRANTS, Grant

PASSWORD_KEY = "password"
OPERATIONS = {"READ": "Read", "WRITE": "Write", "CREATE": "Create", "ALL": "All"}


def password_secret(account: str) -> str:
    """The Secret a KafkaUser's SCRAM password is read from (``fleet k8s secrets``)."""
    return f"fleet-kafka-{account}"


def acl(grant: Grant) -> Obj:
    return {
        "resource": {
            "type": grant.resource,
            "name": grant.name,
            "patternType": "prefix" if grant.prefixed else "literal",
        },
        "operations": [OPERATIONS[grant.operation]],
        "host": "*",
    }


def kafka_users() -> list[Obj]:
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaUser",
            # the user's name is its principal (User:<name>), as on the local stack
            "metadata": {"name": account, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER}},
            "spec": {
                "authentication": {
                    "type": "scram-sha-512",
                    "password": {
                        "valueFrom": {
                            "secretKeyRef": {"name": password_secret(account), "key": PASSWORD_KEY}
                        }
                    },
                },
                "authorization": {"type": "simple", "acls": [acl(g) for g in grants]},
            },
        }
        for account, grants in SERVICE_GRANTS.items()
    ]
