"""How a Kafka account reaches the brokers: the stack's CA, a cluster's own, or plain."""

from __future__ import annotations

from services.security.access import Access
from services.security.secrets import ensure_secrets
from services.settings import load_settings


def _access(tmp_path, **security) -> tuple[Access, str]:
    fleet = load_settings(None, stack={"data_dir": str(tmp_path)}, security=security)
    secrets = ensure_secrets(fleet.secrets_file, kafka=["processor"])
    return Access(fleet), secrets.password("kafka", "processor").get_secret_value()


def test_kafka_uses_the_stacks_ca_with_tls_and_is_plain_without(tmp_path):
    access, _ = _access(tmp_path)
    kafka = access.kafka("processor")
    assert kafka.security_protocol == "SASL_SSL" and kafka.cafile == tmp_path / "pki" / "ca.crt"
    plain = _access(tmp_path, tls=False)[0].kafka("processor")
    assert plain.security_protocol == "PLAINTEXT" and plain.password is None


def test_a_clusters_own_kafka_ca_keeps_sasl_over_tls_with_plain_mqtt(tmp_path):
    ca = tmp_path / "kafka-ca" / "ca.crt"
    access, secret = _access(tmp_path, tls=False, kafka_ca_file=str(ca))
    kafka = access.kafka("processor")
    assert kafka.security_protocol == "SASL_SSL" and kafka.mechanism == "SCRAM-SHA-512"
    assert kafka.cafile == ca and kafka.password is not None
    assert kafka.password.get_secret_value() == secret
    assert access.fleet.ca_file is None  # MQTT stays plain: no CA for its clients
