"""The wire contract between the devices and the services: every MQTT payload and Kafka record
schema, the topics (MQTT topic builders and filters, Kafka topic names), size limits, the
validation error, release-manifest signatures, the MQTT client interface with its in-memory
broker double, and how an MQTT account reaches the broker.

Both sides import it (``edge_agent`` and ``services``, and ``models`` may); it imports none of
them, so the two sides agree on the wire without depending on each other.
"""
