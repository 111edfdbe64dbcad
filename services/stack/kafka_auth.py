"""The local Kafka's services' SCRAM credentials and ACLs, made equal to the policy.

``fleet stack up`` calls :func:`sync_credentials` as the stack's ``admin`` after every start
or reuse: each service account of :mod:`services.security.kafka_acls` gets a SCRAM-SHA-512
credential from the stack's secrets file, and the ACLs of those principals become exactly
the ones the policy lists (missing ones created, others deleted). Credentials are only sent
when one is missing or a secret changed (a fingerprint of them is kept beside the broker's
config, 0600), so a reused stack does not re-salt them on every ``up``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from services.errors import StackError
from services.security.files import read_private, write_private
from services.security.kafka_acls import SERVICE_GRANTS, Grant

if TYPE_CHECKING:
    from services.stack.kafka import Kafka

log = logging.getLogger(__name__)
SCRAM_ITERATIONS = 8192


def sync_credentials(kafka: Kafka, timeout_s: float) -> None:
    """SCRAM credentials and ACLs of every service account; retried while Kafka settles."""
    from services.stack.kafka import with_admin

    def sync(admin: Any) -> None:
        _scram(kafka, admin)
        _acls(admin)

    with_admin(kafka, sync, "setting Kafka credentials and ACLs", timeout_s)


def _scram(kafka: Kafka, admin: Any) -> None:
    from kafka.admin import UserScramCredentialUpsertion

    secrets = kafka.access.secrets
    users = sorted(SERVICE_GRANTS)
    passwords = {u: secrets.password("kafka", u).get_secret_value() for u in users}
    digest = hashlib.sha256(repr(sorted(passwords.items())).encode()).hexdigest().encode()
    marker = kafka.run_dir / "scram.sha256"
    try:
        current = read_private(marker) == digest
    except FileNotFoundError:
        current = False
    known = admin.describe_user_scram_credentials()
    missing = [u for u in users if not (known.get(u) or {}).get("credential_infos")]
    if current and not missing:
        return
    admin.alter_user_scram_credentials(
        [
            UserScramCredentialUpsertion(u, "SCRAM-SHA-512", passwords[u], SCRAM_ITERATIONS)
            for u in users
        ]
    )
    write_private(marker, digest)
    log.info("SCRAM credentials set for %s", ", ".join(users))


def _acl(principal: str, grant: Grant) -> Any:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    pattern = ResourcePattern(
        ResourceType[grant.resource.upper()],
        grant.name,
        ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL,
    )
    return ACL(
        f"User:{principal}", "*", ACLOperation[grant.operation], ACLPermissionType.ALLOW, pattern
    )


def _acls(admin: Any) -> None:
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    wanted = {_acl(p, g) for p, grants in SERVICE_GRANTS.items() for g in grants}
    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    existing, _error = admin.describe_acls(everything)
    ours = {f"User:{p}" for p in SERVICE_GRANTS}
    stale = [acl for acl in existing if acl.principal in ours and acl not in wanted]
    missing = [acl for acl in wanted if acl not in set(existing)]
    if stale:
        admin.delete_acls(stale)
    if missing:
        result = admin.create_acls(missing)
        if result["failed"]:
            raise StackError(f"Kafka refused ACLs: {result['failed']}")
        log.info("created %d ACLs, deleted %d", len(missing), len(stale))
