"""MQTT -> Kafka gateway: shared MQTT subscriptions in, idempotent Kafka producer out.

At least once: an MQTT message is acknowledged only after Kafka (or the dead-letter topic)
has it, so a crash anywhere before that makes the broker deliver it again.
"""
