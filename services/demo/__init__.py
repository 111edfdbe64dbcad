"""``make demo`` (``python -m services.demo [--quick]``): the loop that exists today, end to end
on one machine, with the project's real services as subprocesses.

1. ``fleet stack up``: Kafka, Mosquitto, Prometheus (reused when running).
2. A student: ``fleet data synth`` (phase 0), ``fleet train student``, ``fleet export --format
   blob``; its reference profile goes into a release manifest on ``model.releases``. The
   labeller's teacher: e5-small with a head fine-tuned by ``fleet teacher finetune`` (or the
   keyword stand-in with ``--quick``). Cached under ``var/demo/``.
3. ``fleet gateway run``, ``fleet processor run``, ``fleet labeler run``.
4. Simulated devices classify phase-0 messages with the blob and publish over MQTT, then
   switch to phase-2 (drift) messages.
5. A summary from Kafka (the records) and Prometheus (PromQL over the services' metrics):
   delivery, drift per window before and after the switch, label requests, labels, alerts.
6. The services are stopped; the stack keeps running.
"""

from services.demo.config import FULL, QUICK, DemoConfig
from services.demo.main import main

__all__ = ["FULL", "QUICK", "DemoConfig", "main"]
