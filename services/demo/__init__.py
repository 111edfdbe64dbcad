"""``make demo`` (``python -m services.demo [--quick]``): the whole continual-distillation loop
on one machine, with the project's real services as subprocesses.

1. ``fleet stack up``: Kafka, Mosquitto, Prometheus (reused when running).
2. A student: ``fleet data synth`` (phase 0), ``fleet train student``; the labeler's teacher:
   e5-small with a head fine-tuned by ``fleet teacher finetune`` (``--quick``: the corpus
   oracle behind a local chat-completions endpoint). Cached under ``var/demo/``.
3. ``fleet gateway | processor | labeler | distiller | rollout | control run``; release 1 is
   the student signed and stored in the release store (as ``fleet distiller seed``), its
   manifest on ``model.releases``.
4. Devices of the registry's canary and fleet groups (edge agents on the C engine, OTA clients
   trusting ``var/keys/release.pub``) classify phase-0 messages, then phase-2 (drift) ones.
5. The loop: the teacher's labels reach the distiller; ``fleet ops redistill`` through the
   control API; the distiller fine-tunes, gates, signs and publishes release 2; the rollout
   manager ships it canary -> fleet over MQTT chunks; the devices verify, self-test and
   confirm, and keep classifying phase-2 messages on release 2.
6. A summary from Kafka (the records) and Prometheus (PromQL over the services' metrics):
   delivery, drift and low-confidence share per release, the gate, the rollout timeline.
7. The services are stopped; the stack keeps running.
"""

from services.demo.cli import main
from services.demo.config import AUTO, FULL, QUICK, QUICK_AUTO, DemoConfig

__all__ = ["AUTO", "FULL", "QUICK", "QUICK_AUTO", "DemoConfig", "main"]
