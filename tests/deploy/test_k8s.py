"""deploy/k8s: up to date with the project's settings and rules, valid against the Kubernetes
OpenAPI schemas and the operators' CRDs (offline), and the validator catches mistakes."""

from __future__ import annotations

import base64
import copy

import pytest
import yaml

from contract.topics import TOPIC_NAMES
from services.k8s.cli import render_files
from services.k8s.manifests import SERVICES
from services.k8s.validate import K8S_DIR, load_dir, validate_dir, validate_object
from services.security.kafka_acls import SERVICE_GRANTS, Grant
from services.settings import REPO_ROOT

RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"
MOSQUITTO_CONF = REPO_ROOT / "deploy" / "mosquitto" / "mosquitto.conf"


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return [obj for _, obj in load_dir()]


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_committed_manifests_are_the_rendered_ones():
    rendered = render_files(RULES_DIR, MOSQUITTO_CONF)
    committed = {p.name: p.read_text(encoding="utf-8") for p in K8S_DIR.glob("*.yaml")}
    assert committed == rendered, "deploy/k8s is stale: run `fleet k8s render`"


def test_every_manifest_is_valid():
    assert validate_dir() == []


def test_the_validator_rejects_mistakes(objects):
    deployment = copy.deepcopy(by_kind(objects, "Deployment")["processor"])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert any("imagePullPolicyy" in e for e in validate_object(deployment))
    topic = copy.deepcopy(next(iter(by_kind(objects, "KafkaTopic").values())))
    topic["spec"]["partitions"] = "six"
    assert any("partitions" in e for e in validate_object(topic))
    monitor = copy.deepcopy(by_kind(objects, "ServiceMonitor")["gateway"])
    monitor["spec"]["endpoints"][0]["scrapeEvery"] = "5s"  # a typo of a real field
    assert any("scrapeEvery" in e for e in validate_object(monitor))
    assert validate_object({"apiVersion": "example.com/v1", "kind": "Widget",
                            "metadata": {"name": "w"}})  # fmt: skip


def test_services_probes_secrets_and_topics(objects):
    workloads = by_kind(objects, "Deployment") | by_kind(objects, "StatefulSet")
    assert set(SERVICES) <= set(workloads)
    for name in SERVICES:
        secret_names = {"fleet-registry", f"fleet-accounts-{name}", "fleet-keys",
                        "fleet-cluster-ca-cert"}  # fmt: skip
        pod = workloads[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["readinessProbe"] and container["livenessProbe"], name
        used = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert used <= secret_names, name
        assert not any("password" in str(e).lower() for e in container["env"]), name
    readiness = workloads["processor"]["spec"]["template"]["spec"]["containers"][0]
    assert "fleet_processor_worker_ready" in readiness["readinessProbe"]["exec"]["command"]
    assert workloads["gateway"]["kind"] == "StatefulSet"  # pod name = persistent MQTT session
    topics = {t["spec"]["topicName"]: t for t in by_kind(objects, "KafkaTopic").values()}
    assert set(topics) == set(TOPIC_NAMES.values())
    assert topics["fleet.predictions"]["spec"]["partitions"] == 6


def test_kafka_takes_scram_over_tls_and_each_service_has_the_local_policys_acls(objects):
    (cluster,) = by_kind(objects, "Kafka").values()
    (listener,) = cluster["spec"]["kafka"]["listeners"]
    assert listener["tls"] and listener["authentication"] == {"type": "scram-sha-512"}
    assert cluster["spec"]["kafka"]["authorization"] == {"type": "simple"}
    assert "userOperator" in cluster["spec"]["entityOperator"]
    users = by_kind(objects, "KafkaUser")
    assert set(users) == set(SERVICE_GRANTS)
    names = {"Read": "READ", "Write": "WRITE", "Create": "CREATE", "All": "ALL"}
    for account, user in users.items():
        auth = user["spec"]["authentication"]
        assert auth["type"] == "scram-sha-512"
        assert auth["password"]["valueFrom"]["secretKeyRef"]["name"] == f"fleet-kafka-{account}"
        back = tuple(
            Grant(a["resource"]["type"], a["resource"]["name"], names[op],
                  prefixed=a["resource"]["patternType"] == "prefix")
            for a in user["spec"]["authorization"]["acls"]
            for op in a["operations"]
        )  # fmt: skip
        assert back == SERVICE_GRANTS[account], account
    workloads = by_kind(objects, "Deployment") | by_kind(objects, "StatefulSet")
    for name in SERVICES:
        pod = workloads[name]["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["FLEET_STACK__KAFKA__BOOTSTRAP"].endswith(f":{listener['port']}"), name
        ca = env["FLEET_SECURITY__KAFKA_CA_FILE"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert ca == f"{mounts['kafka-ca']}/ca.crt", name
    user = copy.deepcopy(users["gateway"])
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Writ"]
    assert any("Writ" in e for e in validate_object(user))


def test_prometheus_rules_are_the_stacks_rules(objects):
    rules = by_kind(objects, "PrometheusRule")
    for path in RULES_DIR.glob("*.yml"):
        expected = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        assert rules[f"fleet-{path.stem}"]["spec"]["groups"] == expected


def test_secrets_are_generated_with_hashed_passwords(tmp_path):
    import json

    from services.k8s.secrets import secrets
    from services.security.secrets import load_secrets

    registry_path = REPO_ROOT / "deploy" / "fleet-registry.toml"
    accounts = tmp_path / "k8s" / "accounts.json"
    made = {s["metadata"]["name"]: s for s in secrets(registry_path, tmp_path / "keys", accounts)}
    per_service = {f"fleet-accounts-{name}" for name in SERVICES}
    kafka_users = {f"fleet-kafka-{name}" for name in SERVICE_GRANTS}
    assert set(made) == {"fleet-registry", "mosquitto-auth", "fleet-keys", *per_service,
                         *kafka_users}  # fmt: skip
    for secret in made.values():
        assert validate_object(secret) == []

    def data(secret: str, key: str) -> str:
        return base64.b64decode(made[secret]["data"][key]).decode()

    gateway = load_secrets(accounts).password("mqtt", "gateway").get_secret_value()
    services, devices = (
        data("mosquitto-auth", "services.passwd"),
        data("mosquitto-auth", "devices.passwd"),
    )
    assert "gateway:$7$" in services and "dev-0001:$7$" in devices
    assert "gateway:" not in devices and gateway not in services + devices
    # each pod gets its own accounts only
    assert json.loads(data("fleet-accounts-gateway", "accounts.json"))["mqtt"] == {
        "gateway": gateway
    }
    assert json.loads(data("fleet-accounts-processor", "accounts.json"))["mqtt"] == {}
    # its Kafka principal's password: the one its KafkaUser is created with, and no other's
    for name in SERVICES:
        own = json.loads(data(f"fleet-accounts-{name}", "accounts.json"))["kafka"]
        assert own == {name: data(f"fleet-kafka-{name}", "password")}, name
        assert own[name] == load_secrets(accounts).password("kafka", name).get_secret_value()
    keys = made["fleet-keys"]["data"]
    assert {"release.key", "release.pub", "ops.token"} <= set(keys)
