"""Local Kafka (KRaft), Mosquitto and Prometheus for development, tests and the demo."""
