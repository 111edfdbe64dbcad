"""The fleet on Kubernetes: Strimzi Kafka and topics, Mosquitto, the six services.

Everything comes from the project's own definitions, so the cluster and ``fleet stack up``
cannot drift apart: topic names and partition counts from :class:`TopicSettings`, metrics
ports from :class:`MetricsPorts`, Mosquitto's settings from ``deploy/mosquitto/mosquitto.conf``.
Replica counts and resources follow ``docs/capacity.md``. Credentials are Secrets that
``fleet k8s secrets`` prints (:mod:`services.k8s.secrets`); nothing secret is in here.
"""

from __future__ import annotations

from typing import Any

from contract.topics import TOPIC_NAMES
from services.settings import MetricsPorts, TopicSettings

Obj = dict[str, Any]

IMAGE = "fleet-distill:0.1.0"  # built from deploy/k8s/Dockerfile
KAFKA_CLUSTER = "fleet"
KAFKA_PORT = 9093  # the listener: SCRAM-SHA-512 over TLS
BOOTSTRAP = f"{KAFKA_CLUSTER}-kafka-bootstrap:{KAFKA_PORT}"  # Strimzi's bootstrap Service
# Strimzi's cluster CA certificate (the brokers' certificates are issued by it): the
# services verify Kafka by it
KAFKA_CA_SECRET, KAFKA_CA_DIR = f"{KAFKA_CLUSTER}-cluster-ca-cert", "/etc/fleet/kafka-ca"
MQTT_HOST, MQTT_PORT, MQTT_SERVICE_PORT = "mosquitto", 1883, 1884  # devices', services'

PROMETHEUS_URL = "http://prometheus-operated:9090"  # the Prometheus Operator's Service
DATA_DIR = "/var/lib/fleet"
REGISTRY_DIR = "/etc/fleet/registry"
SECRETS_DIR = "/etc/fleet/secrets"  # accounts.json: the pod's own accounts only
PORTS = MetricsPorts()

# Secret names (``fleet k8s secrets`` creates them)
REGISTRY_SECRET = "fleet-registry"  # fleet-registry.toml: devices, groups, ACLs
KEYS_SECRET = "fleet-keys"  # release.key/.pub, ops/read/alerts tokens
MOSQUITTO_SECRET = "mosquitto-auth"  # hashed password files and ACLs of both listeners


def accounts_secret(service: str) -> str:
    """The Secret with ``service``'s own account secrets (``fleet k8s secrets``)."""
    return f"fleet-accounts-{service}"


def labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "fleet-distill"}


def meta(name: str, **extra: Any) -> Obj:
    return {"name": name, "labels": labels(name), **extra}


# -- Kafka (Strimzi) --------------------------------------------------------------------


def kafka() -> list[Obj]:
    """A 3-node KRaft cluster (every node controller and broker) with the Topic and User
    Operators. Clients authenticate with SCRAM-SHA-512 over TLS; the simple authorizer
    allows each principal what its KafkaUser's ACLs say (``services/k8s/kafka_users.py``)."""
    pool = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaNodePool",
        "metadata": {"name": "dual-role", "labels": {"strimzi.io/cluster": KAFKA_CLUSTER}},
        "spec": {
            "replicas": 3,
            "roles": ["controller", "broker"],
            "storage": {"type": "jbod", "volumes": [
                {"id": 0, "type": "persistent-claim", "size": "100Gi", "deleteClaim": False,
                 "kraftMetadata": "shared"}]},
            "resources": {"requests": {"cpu": "1", "memory": "4Gi"},
                          "limits": {"memory": "4Gi"}},
        },
    }  # fmt: skip
    cluster = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "Kafka",
        "metadata": {"name": KAFKA_CLUSTER, "labels": labels("kafka")},
        "spec": {
            "kafka": {
                "listeners": [
                    {
                        "name": "tls",
                        "port": KAFKA_PORT,
                        "type": "internal",
                        "tls": True,
                        "authentication": {"type": "scram-sha-512"},
                    }
                ],
                "authorization": {"type": "simple"},  # nothing allowed without an ACL
                "config": {
                    # acks=all producers (gateway, distiller, control) wait for 2 of 3
                    "default.replication.factor": 3,
                    "min.insync.replicas": 2,
                    "offsets.topic.replication.factor": 3,
                    "transaction.state.log.replication.factor": 3,
                    "transaction.state.log.min.isr": 2,
                    "auto.create.topics.enable": False,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    return [pool, cluster, *topics()]


def topics(settings: TopicSettings | None = None) -> list[Obj]:
    settings = settings or TopicSettings()
    out = []
    for field, name in TOPIC_NAMES.items():
        spec = getattr(settings, field)
        config: dict[str, Any] = {"min.insync.replicas": 2}
        if spec.compacted:
            config["cleanup.policy"] = "compact"
        out.append({
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            "metadata": {"name": name.replace(".", "-").replace("_", "-"),
                         "labels": {"strimzi.io/cluster": KAFKA_CLUSTER}},
            "spec": {"topicName": name, "partitions": spec.partitions, "replicas": 3,
                     "config": config},
        })  # fmt: skip
    return out


# -- Mosquitto ---------------------------------------------------------------------------


def mosquitto(base_config: str) -> list[Obj]:
    """One broker (Mosquitto does not cluster; docs/capacity.md says when that is too few):
    $share subscriptions split the device traffic across the gateway pods. Two listeners
    like the local stack's: devices (client id = username) and service accounts."""
    from services.stack.mosquitto import render_listeners

    ports = {"devices": MQTT_PORT, "services": MQTT_SERVICE_PORT}
    conf = "\n".join([
        "# generated by `fleet k8s render` from deploy/mosquitto/mosquitto.conf",
        "per_listener_settings true",
        "persistence_location /mosquitto/data/",
        "", base_config.rstrip(), "",
        *render_listeners(ports, "0.0.0.0", "/mosquitto/auth"),
    ])  # fmt: skip
    name = "mosquitto"
    container = {
        "name": name,
        # 2.0.23 or newer: with per_listener_settings (the two listeners), 2.0.12 to 2.0.22
        # drop the messages for a persistent session while its client is disconnected
        # (eclipse-mosquitto/mosquitto#2618, #2526), i.e. device traffic while a gateway pod
        # restarts; fixed in 2.0.23
        "image": "eclipse-mosquitto:2.0.23",
        "args": ["mosquitto", "-c", "/mosquitto/config/mosquitto.conf"],
        "ports": [
            {"name": "mqtt", "containerPort": MQTT_PORT},
            {"name": "mqtt-services", "containerPort": MQTT_SERVICE_PORT},
        ],
        "readinessProbe": {"tcpSocket": {"port": "mqtt"}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "mqtt"}, "periodSeconds": 20},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "volumeMounts": [
            {"name": "config", "mountPath": "/mosquitto/config", "readOnly": True},
            {"name": "auth", "mountPath": "/mosquitto/auth", "readOnly": True},
            {"name": "data", "mountPath": "/mosquitto/data"},
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name),
         "data": {"mosquitto.conf": conf}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(f"{name}-data"),
         "spec": {"accessModes": ["ReadWriteOnce"],
                  "resources": {"requests": {"storage": "10Gi"}}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name),
         "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                  "selector": {"matchLabels": labels(name)},
                  "template": {"metadata": {"labels": labels(name)}, "spec": {
                      "containers": [container],
                      "volumes": [
                          {"name": "config", "configMap": {"name": name}},
                          {"name": "auth", "secret": {"secretName": MOSQUITTO_SECRET}},
                          {"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}},
                      ]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
         "spec": {"selector": labels(name),
                  "ports": [{"name": "mqtt", "port": MQTT_PORT, "targetPort": "mqtt"},
                            {"name": "mqtt-services", "port": MQTT_SERVICE_PORT,
                             "targetPort": "mqtt-services"}]}},
    ]  # fmt: skip


# -- the services ------------------------------------------------------------------------

COMMON_ENV = [
    {"name": "FLEET_STACK__DATA_DIR", "value": DATA_DIR},
    {"name": "FLEET_STACK__REGISTRY", "value": f"{REGISTRY_DIR}/fleet-registry.toml"},
    {"name": "FLEET_SECURITY__SECRETS_FILE", "value": f"{SECRETS_DIR}/accounts.json"},
    # MQTT without TLS (these manifests provision no certificates for Mosquitto; a cluster
    # terminates TLS in front of it); Kafka: SASL/SCRAM over TLS verified by Strimzi's CA
    {"name": "FLEET_SECURITY__TLS", "value": "false"},
    {"name": "FLEET_SECURITY__KAFKA_CA_FILE", "value": f"{KAFKA_CA_DIR}/ca.crt"},
    {"name": "FLEET_STACK__KAFKA__BOOTSTRAP", "value": BOOTSTRAP},
    {"name": "FLEET_STACK__MOSQUITTO__HOST", "value": MQTT_HOST},
    {"name": "FLEET_STACK__MOSQUITTO__PORT", "value": str(MQTT_PORT)},
    {"name": "FLEET_STACK__MOSQUITTO__SERVICE_PORT", "value": str(MQTT_SERVICE_PORT)},
    {"name": "OMP_WAIT_POLICY", "value": "PASSIVE"},
    {"name": "HOME", "value": "/tmp"},  # the root filesystem is read-only
]


def _env(values: dict[str, str]) -> list[Obj]:
    return [*COMMON_ENV, *({"name": k, "value": v} for k, v in values.items())]


def _probe_metric(port: int, metric: str) -> Obj:
    """Readiness on the service's own signal (a gauge that is 1 when it is ready)."""
    return {"exec": {"command": ["python", "-m", "services.probe", str(port), metric]},
            "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}  # fmt: skip


def _probe_http(port: int, path: str = "/metrics", period: int = 10) -> Obj:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period,
            "timeoutSeconds": 5, "failureThreshold": 6}  # fmt: skip


def _container(name: str, args: list[str], port: int, env: dict[str, str], cpu: str,
               memory: str, readiness: Obj, mounts: list[Obj]) -> Obj:  # fmt: skip
    return {
        "name": name,
        "image": IMAGE,
        "args": args,
        "env": _env(env),
        "ports": [{"name": "metrics", "containerPort": port}],
        "readinessProbe": readiness,
        "livenessProbe": _probe_http(port, period=20),
        "startupProbe": {**_probe_http(port, period=5), "failureThreshold": 60},
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True},
        "volumeMounts": [{"name": "registry", "mountPath": REGISTRY_DIR, "readOnly": True},
                         {"name": "accounts", "mountPath": SECRETS_DIR, "readOnly": True},
                         {"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}, *mounts],
    }  # fmt: skip


def _volumes(name: str, extra: list[Obj]) -> list[Obj]:
    return [{"name": "registry", "secret": {"secretName": REGISTRY_SECRET}},
            {"name": "accounts", "secret": {"secretName": accounts_secret(name),
                                            "defaultMode": 0o400}},
            {"name": "kafka-ca", "secret": {"secretName": KAFKA_CA_SECRET,
                                            "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"name": "tmp", "emptyDir": {}}, *extra]  # fmt: skip


def _workload(kind: str, name: str, replicas: int, container: Obj, volumes: list[Obj],
              **spec: Any) -> Obj:  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": meta(name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels(name)},
            "template": {
                "metadata": {"labels": labels(name)},
                "spec": {"containers": [container], "volumes": _volumes(name, volumes),
                         "terminationGracePeriodSeconds": 45},
            },
            **spec,
        },
    }  # fmt: skip


def _service(name: str, port: int) -> Obj:
    ports = [{"name": "metrics", "port": port, "targetPort": "metrics"}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
            "spec": {"selector": labels(name), "ports": ports}}  # fmt: skip


KEYS_VOLUME = {"name": "keys", "secret": {"secretName": KEYS_SECRET, "defaultMode": 0o400}}
KEYS_MOUNT = {"name": "keys", "mountPath": f"{DATA_DIR}/keys", "readOnly": True}
RELEASES_MOUNT = {"name": "releases", "mountPath": f"{DATA_DIR}/releases"}
RELEASES_VOLUME = {"name": "releases", "persistentVolumeClaim": {"claimName": "fleet-releases"}}


def gateway(replicas: int = 3) -> list[Obj]:
    """A StatefulSet: each pod's name is its MQTT client id, so a restarted pod resumes its
    own persistent session (its queued and unacknowledged messages)."""
    c = _container(
        "gateway", ["gateway", "run"], PORTS.gateway,
        {"FLEET_GATEWAY_METRICS_HOST": "0.0.0.0"},
        "1", "512Mi", _probe_metric(PORTS.gateway, "fleet_gateway_connected"), [],
    )  # fmt: skip
    c["env"].append({"name": "FLEET_GATEWAY_CLIENT_ID",
                     "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})  # fmt: skip
    return [
        _workload("StatefulSet", "gateway", replicas, c, [], serviceName="gateway",
                  podManagementPolicy="Parallel"),
        _service("gateway", PORTS.gateway),
    ]  # fmt: skip


def processor(replicas: int = 2) -> list[Obj]:
    c = _container(
        "processor", ["processor", "run"], PORTS.processor,
        {"FLEET_PROCESSOR_METRICS_HOST": "0.0.0.0",
         "FLEET_PROCESSOR_DATA_DIR": f"{DATA_DIR}/processor"},
        "1", "1Gi", _probe_metric(PORTS.processor, "fleet_processor_worker_ready"),
        [{"name": "state", "mountPath": f"{DATA_DIR}/processor"}],
    )  # fmt: skip
    # tables are rebuilt from their changelog topics on start: scratch space is enough
    return [
        _workload("Deployment", "processor", replicas, c, [{"name": "state", "emptyDir": {}}]),
        _service("processor", PORTS.processor),
    ]


def labeler(replicas: int = 2) -> list[Obj]:
    c = _container(
        "labeler", ["labeler", "run"], PORTS.labeler,
        {"FLEET_LABELER_METRICS_HOST": "0.0.0.0",
         "FLEET_LABELER_TEACHER": f"{DATA_DIR}/teacher", "HF_HUB_OFFLINE": "1"},
        "2", "4Gi", _probe_http(PORTS.labeler),
        [{"name": "teacher", "mountPath": f"{DATA_DIR}/teacher", "readOnly": True}],
    )  # fmt: skip
    teacher = {"name": "teacher", "persistentVolumeClaim": {"claimName": "fleet-teacher",
                                                            "readOnly": True}}  # fmt: skip
    return [_workload("Deployment", "labeler", replicas, c, [teacher]),
            _service("labeler", PORTS.labeler)]  # fmt: skip


def distiller() -> list[Obj]:
    c = _container(
        "distiller", ["distiller", "run"], PORTS.distiller,
        {"FLEET_DISTILLER_METRICS_HOST": "0.0.0.0",
         "FLEET_DISTILLER_PROMETHEUS_URL": PROMETHEUS_URL},
        "2", "4Gi", _probe_http(PORTS.distiller),
        [{"name": "samples", "mountPath": f"{DATA_DIR}/distiller"}, RELEASES_MOUNT, KEYS_MOUNT],
    )  # fmt: skip
    claim = {"metadata": {"name": "samples"},
             "spec": {"accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "20Gi"}}}}  # fmt: skip
    return [
        _workload("StatefulSet", "distiller", 1, c, [RELEASES_VOLUME, KEYS_VOLUME],
                  serviceName="distiller", volumeClaimTemplates=[claim]),
        _service("distiller", PORTS.distiller),
    ]  # fmt: skip


def rollout() -> list[Obj]:
    c = _container(
        "rollout", ["rollout", "run"], PORTS.rollout,
        {"FLEET_ROLLOUT_METRICS_HOST": "0.0.0.0"},
        "500m", "512Mi", _probe_http(PORTS.rollout), [RELEASES_MOUNT, KEYS_MOUNT],
    )  # fmt: skip
    # one manager: its state is the compacted model.rollouts topic, read back on start
    return [
        _workload("Deployment", "rollout", 1, c, [RELEASES_VOLUME, KEYS_VOLUME],
                  strategy={"type": "Recreate"}),
        _service("rollout", PORTS.rollout),
    ]  # fmt: skip


def control() -> list[Obj]:
    c = _container(
        "control", ["control", "run"], PORTS.control,
        {"FLEET_CONTROL_HOST": "0.0.0.0", "FLEET_CONTROL_PROMETHEUS_URL": PROMETHEUS_URL},
        "500m", "512Mi", _probe_http(PORTS.control), [RELEASES_MOUNT, KEYS_MOUNT],
    )  # fmt: skip
    return [_workload("Deployment", "control", 1, c, [RELEASES_VOLUME, KEYS_VOLUME]),
            _service("control", PORTS.control)]  # fmt: skip


def storage() -> list[Obj]:
    """Release store (distiller writes, rollout manager and control API read; one volume
    mounted by three pods, so ReadWriteMany) and the teacher checkpoint."""
    return [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("fleet-releases"),
         "spec": {"accessModes": ["ReadWriteMany"],
                  "resources": {"requests": {"storage": "20Gi"}}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("fleet-teacher"),
         "spec": {"accessModes": ["ReadOnlyMany"],
                  "resources": {"requests": {"storage": "5Gi"}}}},
    ]  # fmt: skip


SERVICES = ("gateway", "processor", "labeler", "distiller", "rollout", "control")
