"""The local Kafka, Mosquitto and Prometheus that every service and test talks to."""

from services.stack.component import ComponentStatus
from services.stack.registry import Registry, load_registry
from services.stack.stack import Stack

__all__ = ["ComponentStatus", "Registry", "Stack", "load_registry"]
