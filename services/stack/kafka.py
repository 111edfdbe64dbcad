"""Apache Kafka 3.9 in KRaft mode: one node as broker and controller, from the Maven jars."""

from __future__ import annotations

import base64
import contextlib
import logging
import subprocess
import time
import uuid
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from services.errors import StackError
from services.security.files import write_private
from services.security.kafka_acls import ADMIN, BROKER, SUPER_USERS
from services.security.pki import ensure_pki
from services.stack.component import Component
from services.stack.kafka_auth import sync_credentials
from services.stack.process import port_open

if TYPE_CHECKING:
    from kafka.admin import KafkaAdminClient

    from services.security.access import Access

T = TypeVar("T")

STORAGE_TOOL = "kafka.tools.StorageTool"  # Scala object in kafka_2.13-<v>.jar
SERVER_MAIN = "kafka.Kafka"
NODE_ID = 1

# Kafka logs WARN and above, plus the one line that says the server started.
LOG4J = """\
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.org.apache.kafka.clients=ERROR
log4j.logger.state.change.logger=ERROR
"""


def new_cluster_id() -> str:
    """A random KRaft cluster id (22 URL-safe base64 characters).

    Like Kafka's own ``Uuid.randomUuid``, it never starts with ``-``: the storage tool's
    argument parser would read such an id as an option and refuse to format (a 1-in-64 flake).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class Kafka(Component):
    name = "kafka"

    @property
    def start_timeout_s(self) -> float:
        return self.settings.stack.kafka.start_timeout_s

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.settings.stack.kafka.port}"

    def ports(self) -> dict[str, int]:
        k = self.settings.stack.kafka
        return {"broker": k.port, "controller": k.controller_port}

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def config_file(self) -> Path:
        return self.run_dir / "server.properties"

    def _jars(self) -> Path:
        libs = self.settings.stack.kafka.libs_dir
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise StackError(
                f"Kafka jars not found in {libs}; run `make setup` (Maven resolves "
                "deploy/kafka/pom.xml)"
            )
        return libs

    def version(self) -> str:
        jars = sorted(self._jars().glob("kafka_2.13-*.jar"))
        return jars[-1].stem.removeprefix("kafka_2.13-")

    @cached_property
    def access(self) -> Access:  # (imported late: services.security.access imports the stack)
        from services.security.access import Access

        return Access(self.settings)

    def _security(self) -> list[str]:
        """TLS and SASL on both listeners (SCRAM-SHA-512 for the services, whose credentials
        live in the cluster's metadata; PLAIN for the broker itself and ``admin``, listed
        here so they work before any SCRAM credential exists) and the StandardAuthorizer:
        nothing is allowed without an ACL. The development setting (``security.tls =
        false``) leaves both listeners plain and open."""
        if not self.settings.security.tls:  # the development setting: open, as it was
            return ["listener.security.protocol.map=CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT"]
        secrets = self.access.secrets
        broker = secrets.password("kafka", BROKER).get_secret_value()
        admin = secrets.password("kafka", ADMIN).get_secret_value()
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule required"
        own = f'username="{BROKER}" password="{broker}" user_{BROKER}="{broker}"'
        lines = [
            "listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SASL_SSL",
            "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN",
            "listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN",
            f'listener.name.client.plain.sasl.jaas.config={plain} {own} user_{ADMIN}="{admin}";',
            "listener.name.client.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f"listener.name.controller.plain.sasl.jaas.config={plain} {own};",
            "sasl.mechanism.controller.protocol=PLAIN",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users={';'.join(f'User:{u}' for u in SUPER_USERS)}",
            "allow.everyone.if.no.acl.found=false",
        ]
        files = ensure_pki(self.settings.pki_dir, self.host).server("kafka")
        key = files.key.read_bytes().decode().strip().replace("\n", "\\n")
        chain = files.cert.read_bytes().decode().strip().replace("\n", "\\n")
        return [
            *lines,
            "ssl.keystore.type=PEM",
            f"ssl.keystore.key={key}",
            f"ssl.keystore.certificate.chain={chain}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.settings.pki_dir / 'ca.crt'}",
            "ssl.enabled.protocols=TLSv1.2,TLSv1.3",
            "ssl.endpoint.identification.algorithm=https",
        ]

    def server_properties(self) -> str:
        k = self.settings.stack.kafka
        h = self.host
        return "\n".join(
            [
                "# generated by `fleet stack up`; edit services/stack/kafka.py instead",
                "process.roles=broker,controller",
                f"node.id={NODE_ID}",
                f"controller.quorum.voters={NODE_ID}@{h}:{k.controller_port}",
                f"listeners=CLIENT://{h}:{k.port},CONTROLLER://{h}:{k.controller_port}",
                f"advertised.listeners=CLIENT://{h}:{k.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=CLIENT",
                *self._security(),
                f"log.dirs={self.data_dir}",
                "num.partitions=1",
                "default.replication.factor=1",
                "min.insync.replicas=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=10",  # default 50 slows the first consumer group
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",  # faust creates its own internal topics too
                "num.network.threads=2",
                "num.io.threads=4",
                "num.recovery.threads.per.data.dir=1",
                "log.cleaner.dedupe.buffer.size=16777216",  # 16 MB instead of 128 MB of heap
                "log.retention.hours=72",
                "log.segment.bytes=67108864",
                "",
            ]
        )

    def prepare(self) -> None:
        libs = self._jars()
        write_private(self.config_file, self.server_properties().encode())  # holds secrets
        (self.run_dir / "log4j.properties").write_text(LOG4J)
        if (self.data_dir / "meta.properties").exists():
            return  # formatted on an earlier start; reuse (fast second start)
        cluster_id = new_cluster_id()
        cmd = [
            *self._java(),
            "-cp",
            f"{libs}/*",
            STORAGE_TOOL,
            "format",
            "--ignore-formatted",
            "-t",
            cluster_id,
            "-c",
            str(self.config_file),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise StackError(
                f"formatting Kafka storage in {self.data_dir} failed:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )

    def _java(self) -> list[str]:
        k = self.settings.stack.kafka
        return [
            k.java,
            f"-Xmx{k.heap_max_mb}m",
            f"-Xms{min(k.heap_min_mb, k.heap_max_mb)}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.run_dir / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.run_dir / 'logs'}",
        ]

    def argv(self) -> list[str]:
        return [
            *self._java(),
            "-cp",
            f"{self._jars()}/*",
            SERVER_MAIN,
            str(self.config_file),
        ]

    def probe(self) -> bool:
        if not port_open(self.host, self.settings.stack.kafka.port):
            return False
        try:
            admin = self.admin(timeout_ms=3000)
        except StackError:
            return False
        try:
            brokers = admin.describe_cluster().get("brokers", [])
            return bool(brokers)
        except Exception:  # any client error while starting means "not yet"
            return False
        finally:
            admin.close()

    def admin(self, timeout_ms: int = 10_000) -> KafkaAdminClient:
        """An admin client as the stack's ``admin`` (a super user)."""
        from kafka.errors import KafkaError

        access = self.access.kafka(ADMIN)
        try:
            return access.admin(
                client_id="fleet-stack",
                request_timeout_ms=timeout_ms,
                bootstrap_timeout_ms=timeout_ms,
            )
        except KafkaError as exc:
            raise StackError(f"cannot reach Kafka at {access}: {exc}") from exc

    def needs_restart(self) -> bool:
        """Listeners, SASL and the authorizer are read at start only."""
        try:
            return self.config_file.read_text() != self.server_properties()
        except FileNotFoundError:
            return True

    def after_ready(self) -> None:
        """Every start or reuse: the services' SCRAM credentials and the ACLs as the policy
        says (``services.security.kafka_acls``), then the topics."""
        if self.settings.security.tls:
            sync_credentials(self, timeout_s=60)
        ensure_topics(self, timeout_s=60)


def with_admin(kafka: Kafka, action: Callable[[Any], T], what: str, timeout_s: float) -> T:
    """``action(admin)`` with an admin client, retried every second while Kafka settles (it
    cannot be reached, or refuses the request) until ``timeout_s``; then a StackError naming
    ``what`` failed."""
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = kafka.admin()
        except StackError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
            continue
        try:
            return action(admin)
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise StackError(f"{what} failed: {exc}") from exc
            logging.getLogger(__name__).info("%s: not ready yet: %s", what, exc)
            time.sleep(1)
        finally:
            admin.close()


def ensure_topics(kafka: Kafka, timeout_s: float) -> list[str]:
    """Create the topics of ``settings.topics`` that do not exist yet; the created names."""
    from kafka.errors import TopicAlreadyExistsError

    specs = kafka.settings.topics.by_name()

    def create(admin: Any) -> list[str]:
        existing = set(admin.list_topics())
        missing = {
            name: {
                "num_partitions": spec.partitions,
                "replication_factor": 1,
                "configs": {"cleanup.policy": "compact"} if spec.compacted else {},
            }
            for name, spec in specs.items()
            if name not in existing
        }
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent `up`
                admin.create_topics(missing, timeout_ms=30_000, wait_for_metadata=True)
        return sorted(missing)

    return with_admin(kafka, create, "creating Kafka topics", timeout_s)
