"""Kubernetes manifests for a fleet beyond one machine (``deploy/k8s/``).

:mod:`.manifests` builds the objects from the same settings, topics and Mosquitto rules the
local stack uses; :mod:`.monitoring` turns the stack's Prometheus rule files into Prometheus
Operator objects; :mod:`.secrets` prints the Secrets (never committed); :mod:`.validate`
checks everything offline against the Kubernetes OpenAPI schemas and the operators' CRDs.
"""
