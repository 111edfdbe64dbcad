"""The demo's steps, top to bottom: stack, student, release, services, traffic, summary."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from rich.console import Console

from services.demo import artifacts
from services.demo.config import DemoConfig
from services.demo.devices import SimulatedFleet, TrafficStats, simulated_accounts
from services.demo.processes import ServiceProcess, port_in_use, skip_backlog
from services.demo.report import (
    DriftWindowStats,
    KafkaCounts,
    KafkaTail,
    Prometheus,
    count_records,
    drift_between,
    service_counters,
)
from services.errors import ServiceError
from services.schemas import PredictionEvent
from services.settings import REPO_ROOT, TOPIC_NAMES, FleetSettings, load_settings
from services.stack import Stack, load_registry
from services.stack.cli import print_status

TOPICS = {
    "predictions": TOPIC_NAMES["predictions"],
    "dlq": TOPIC_NAMES["predictions_dlq"],
    "requests": TOPIC_NAMES["label_requests"],
    "labeled": TOPIC_NAMES["labeled"],
}
# The demo's gateway has its own MQTT share group: its persistent session keeps a turn in
# its group while the demo is not running, which must not hold back the "gateway" group.
# (A persistent session also keeps its subscriptions: a client id is tied to one group.)
GATEWAY_ARGS = ["gateway", "run", "--client-id", "demo-gateway", "--share-group", "demo"]
PROCESSOR_GROUP = "fleet-demo-processor"  # faust app id (its consumer group, table topics)
LABELER_GROUP = "fleet-demo-labeler"


@dataclass
class DemoResult:
    version: int = 0  # the release the devices ran
    teacher: str = ""  # what labelled: keyword, or a fine-tuned teacher folder
    devices: str = ""  # what ran the devices
    traffic: TrafficStats = field(default_factory=TrafficStats)
    kafka: KafkaCounts = field(default_factory=KafkaCounts)
    counters: dict[str, float | None] = field(default_factory=dict)  # from Prometheus
    drift_before: dict[tuple[str, str], DriftWindowStats] = field(default_factory=dict)
    drift_after: dict[tuple[str, str], DriftWindowStats] = field(default_factory=dict)
    low_conf_before: float | None = None  # mean low-confidence share of phase-0 windows
    low_conf_after: float | None = None
    alerts: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    alert_rules: int = 0
    not_included: list[str] = field(default_factory=list)

    @property
    def published(self) -> int:
        return sum(self.traffic.published.values())


class Demo:
    def __init__(self, config: DemoConfig, console: Console) -> None:
        var = config.var_dir if config.var_dir.is_absolute() else REPO_ROOT / config.var_dir
        self.config, self.console, self.var = replace(config, var_dir=var), console, var
        self.logs = self.var / "logs"
        self.services: list[ServiceProcess] = []
        self.fleet: SimulatedFleet | None = None
        self.result = DemoResult()
        self.device_ids: set[str] = set()  # whose predictions this run counts

    def say(self, text: str) -> None:
        self.console.print(text)

    # 1. ------------------------------------------------------------------------------------
    def stack(self) -> FleetSettings:
        settings = load_settings()
        self.say("[bold]1. Stack[/]: Kafka, Mosquitto, Prometheus (reuses what already runs)")
        started = time.monotonic()
        Stack(settings).up()
        self.say(
            f"   up in {time.monotonic() - started:.1f}s; MQTT accounts from "
            f"{settings.stack.registry}"
        )
        print_status(Stack(settings))
        for name, port in settings.metrics_ports.by_service().items():
            if name in ("gateway", "processor", "labeler") and port_in_use(port):
                raise ServiceError(
                    f"port {port} is taken: is a {name} already running? Stop it, the demo "
                    "starts its own"
                )
        return settings

    # 2. ------------------------------------------------------------------------------------
    def release(self, settings: FleetSettings) -> artifacts.Release:
        c = self.config
        self.say("[bold]2. Student[/]: synthetic corpus phase 0 -> TinyLSTM -> int8 model blob")
        data = artifacts.corpus(c, self.logs)
        started = time.monotonic()
        student, cached = artifacts.student(c, data, self.logs)
        metrics = artifacts.student_metrics(student)
        how = "cached" if cached else f"trained in {time.monotonic() - started:.0f}s"
        self.say(
            f"   student {student} ({how}, {c.student_steps} steps on {c.corpus_train} "
            "messages): phase-0 test "
            f"accuracy {metrics.get('accuracy', math.nan):.3f}, macro-F1 "
            f"{metrics.get('macro_f1', math.nan):.3f}"
        )
        version = artifacts.next_version(settings.kafka_bootstrap, TOPIC_NAMES["releases"])
        blob = artifacts.export_blob(student, version, self.var / "releases", self.logs)
        lines = (data / "phase0" / "valid.jsonl").read_text("utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in lines]
        profile, _ = artifacts.reference_profile(blob, texts)
        release = artifacts.make_release(version, blob, profile, metrics)
        artifacts.publish_release(settings.kafka_bootstrap, TOPIC_NAMES["releases"], release)
        self.say(
            f"   release v{version}: {blob.name} ({release.manifest.size} bytes, sha256 "
            f"{release.manifest.sha256[:12]}...), reference profile from {len(texts)} held-out "
            f"phase-0 messages, published to {TOPIC_NAMES['releases']} (unsigned: the distiller "
            "and its signing are not built yet)"
        )
        self.result.version = version
        return release

    def teacher(self) -> str:
        c = self.config
        data = artifacts.corpus(c, self.logs)
        started = time.monotonic()
        teacher, cached = artifacts.teacher(c, data, self.logs)
        if teacher == "keyword":
            self.say(
                "   labeller teacher: [yellow]keyword stand-in[/] (no weights; labels from a "
                "keyword table, not a model) - run without --quick for e5-small"
            )
        elif c.teacher != "e5-small":
            self.say(f"   labeller teacher: the fine-tuned teacher folder {teacher}")
        else:
            how = "cached" if cached else f"fine-tuned in {time.monotonic() - started:.0f}s"
            self.say(
                f"   labeller teacher: {teacher} ({how}; multilingual-e5-small encoder with a "
                f"classification head, {c.teacher_steps} steps on labelled phase-0 and phase-2 "
                "messages)"
            )
        self.result.teacher = teacher
        return teacher

    # 3. ------------------------------------------------------------------------------------
    def start_services(self, settings: FleetSettings, teacher: str) -> None:
        c, ports = self.config, settings.metrics_ports
        self.say("[bold]3. Services[/]: fleet gateway run, fleet processor run, fleet labeler run")
        processor_env = {
            "FLEET_PROCESSOR_WINDOW_S": str(c.window_s),
            "FLEET_PROCESSOR_GRACE_S": str(c.grace_s),
            "FLEET_PROCESSOR_TICK_S": "0.5",
            "FLEET_PROCESSOR_BUDGET_PER_WINDOW": str(c.budget_per_window),
            "FLEET_PROCESSOR_DATA_DIR": str(self.var / "processor"),
            "FLEET_PROCESSOR_APP_ID": PROCESSOR_GROUP,
        }
        # Own consumer groups, started at the end of their topics: records left by earlier
        # runs or other tools would otherwise be processed first and delay the live windows.
        for group, topic in ((PROCESSOR_GROUP, TOPICS["predictions"]),
                             (LABELER_GROUP, TOPICS["requests"])):  # fmt: skip
            skipped = skip_backlog(settings.kafka_bootstrap, group, [topic])
            if skipped:
                self.say(f"   consumer group {group}: skipped {skipped} records of earlier runs")
        gateway = ServiceProcess(
            "gateway", GATEWAY_ARGS, {}, self.logs / "gateway.log", ports.gateway,
        )  # fmt: skip
        processor = ServiceProcess(
            "processor", ["processor", "run"], processor_env,
            self.logs / "processor.log", ports.processor,
        )  # fmt: skip
        labeler_env = {"FLEET_LABELER_TEACHER": teacher, "FLEET_LABELER_GROUP_ID": LABELER_GROUP}
        labeler = ServiceProcess(
            "labeler", ["labeler", "run"], labeler_env, self.logs / "labeler.log", ports.labeler,
        )  # fmt: skip
        for service in (gateway, processor, labeler):
            self.services.append(service.start())
        gateway.wait_for(lambda: "subscribed to" in gateway.tail(100_000), "its subscription")
        processor.wait_for(lambda: "Ready" in processor.tail(100_000), "faust worker ready")
        processor.wait_for(processor.serves_metrics, "/metrics")
        labeler.wait_for(lambda: "labeler starting" in labeler.tail(100_000), "start", 300)
        self.say(f"   running; logs in {self.logs}")

    # 4. ------------------------------------------------------------------------------------
    def traffic(self, settings: FleetSettings, release: artifacts.Release, prom: Prometheus):
        c = self.config
        data = artifacts.corpus(c, self.logs)
        texts = {}
        for phase in (0, 2):
            lines = (data / f"phase{phase}" / "test.jsonl").read_text("utf-8").splitlines()
            texts[phase] = [json.loads(line)["text"] for line in lines]
        accounts = simulated_accounts(load_registry(settings.stack.registry), c.devices)
        from edge_agent.cli import trusted_key

        self.fleet = SimulatedFleet(
            accounts, settings.stack.host, settings.stack.mosquitto.port,
            trusted_key(settings, None), release.blob, c.rate_hz,
        )  # fmt: skip
        self.device_ids = {a.id for a in accounts}
        self.result.devices = self.fleet.description
        self.say(
            f"[bold]4. Traffic[/]: {c.devices} devices x {c.rate_hz}/s, phase 0 for "
            f"~{c.phase0_s:.0f}s, then phase 2 (drift: new carriers and phrasing, new label 拦截) "
            f"for ~{c.drift_s:.0f}s\n   devices: {self.fleet.description}"
        )
        self.fleet.connect()
        # start and switch on processor window boundaries: every window is full and holds
        # one phase only
        started = math.ceil(time.time() / c.window_s) * c.window_s
        switch = started + math.ceil(c.phase0_s / c.window_s) * c.window_s
        end = switch + math.ceil(c.drift_s / c.window_s) * c.window_s
        time.sleep(max(started - time.time(), 0))
        self.fleet.start([(0, switch), (2, end)], texts)
        if c.malformed:
            self.fleet.send_malformed(c.malformed)
        self._progress(prom, started, switch, release.version)
        self.say(f"   [bold]phase 2 from {time.strftime('%H:%M:%S', time.localtime(switch))}[/]")
        self._progress(prom, started, end, release.version)
        self.result.traffic = self.fleet.stop()
        self.fleet = None
        return started, switch, end

    def _progress(self, prom: Prometheus, started: float, until: float, version: int) -> None:
        every = max(self.config.window_s, 10.0)
        while (left := until - time.time()) > 0:
            time.sleep(min(left, every))
            for service in self.services:
                service.check_alive()
            v = f'model_version="{version}"'
            events = prom.scalar(f"sum(fleet_processor_events_total{{{v}}})") or 0
            psi = prom.scalar(f'max(fleet_processor_drift{{{v},statistic="psi"}})')
            requests = prom.scalar(f"sum(fleet_processor_label_requests_total{{{v}}})") or 0
            labels = prom.scalar("sum(fleet_labeler_labels_total)") or 0
            self.say(
                f"   +{time.time() - started:4.0f}s  processor events {events:.0f}, last window "
                f"PSI {'-' if psi is None else f'{psi:.3f}'}, label requests {requests:.0f}, "
                f"labelled {labels:.0f}   (Prometheus)"
            )

    # 5. ------------------------------------------------------------------------------------
    def settle(self, prom: Prometheus, times: tuple[float, float, float], scrape_s: float):
        """Wait until the gateway forwarded everything, every window closed, the labeller
        labelled every request, and Prometheus scraped the final values."""
        gateway, processor, labeler = self.services
        started, _, end = times
        expected = self.result.published + self.result.traffic.malformed
        gateway.wait_for(
            lambda: (
                (prom.scalar('sum(fleet_gateway_received_total{kind="pred"})') or 0) >= expected
            ),
            f"{expected} messages through the gateway",
            60,
        )
        windows = round((end - started) / self.config.window_s)
        v = f'model_version="{self.result.version}"'
        closed = f"sum(fleet_processor_windows_closed_total{{{v}}})"
        processor.wait_for(
            lambda: (prom.scalar(closed) or 0) >= windows, f"{windows} windows to close", 90
        )
        # the backlog gauge is refreshed every 2 s: read one scraped after the last requests
        time.sleep(2 + scrape_s + 1)
        labeler.wait_for(
            lambda: prom.scalar("sum(fleet_labeler_backlog)") == 0, "the labelling backlog", 300
        )
        time.sleep(scrape_s + 1)

    def _mine(self, started: float, version: int) -> Callable[[PredictionEvent], bool]:
        """This run's predictions: its devices and release, classified since it started."""
        ids = set(self.device_ids)
        return lambda e: e.device_id in ids and e.model_version == version and e.ts >= started

    def summarise(self, tail: KafkaTail, prom: Prometheus, times: tuple[float, float, float]):
        started, switch, end = times
        r, c = self.result, self.config
        r.kafka = count_records(tail.read(), TOPICS, self._mine(started, r.version), switch)
        r.counters = service_counters(prom, r.version)
        # the gauge shows the last closed window: phase-0 windows close by switch + grace,
        # the first phase-2 window at switch + window + grace
        before_end = switch + c.grace_s + c.window_s / 2
        after_start = switch + c.window_s + c.grace_s + c.window_s / 2
        final = end + c.grace_s + 2
        r.drift_before = drift_between(prom, r.version, started, before_end)
        r.drift_after = drift_between(prom, r.version, after_start, final)
        ratio = f'fleet_processor_window_low_confidence_ratio{{model_version="{r.version}"}}'
        r.low_conf_before = prom.scalar(
            f"max(avg_over_time({ratio}[{int(before_end - started)}s]))", at=before_end
        )
        r.low_conf_after = prom.scalar(
            f"max(avg_over_time({ratio}[{int(final - after_start)}s]))", at=final
        )
        r.alert_rules = prom.alert_rules()
        r.alerts = prom.alerts()

    def stop_services(self) -> None:
        if self.fleet is not None:
            with contextlib.suppress(Exception):
                self.fleet.stop(wait=False)
            self.fleet = None
        for service in reversed(self.services):
            code = service.stop()
            self.say(f"   stopped {service.name} (exit {code})")
        self.services = []


@contextlib.contextmanager
def _ignoring_sigint() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(config: DemoConfig, console: Console) -> DemoResult:
    """The whole demo; services it started are stopped even on Ctrl-C or an error."""
    from services.demo.summary import print_summary

    demo = Demo(config, console)
    demo.result.not_included = [
        "the distiller (retraining on the teacher's labels) and release signing: the demo "
        "publishes the release manifest itself, unsigned",
        "the rollout manager: devices are provisioned with the release, not updated over the air",
        "Grafana: the dashboards in deploy/grafana/ need a Grafana server (not in the stack)",
    ]
    settings = demo.stack()
    prom = Prometheus(settings.prometheus_url)
    prom.reload()
    release = demo.release(settings)
    teacher = demo.teacher()
    tail = KafkaTail(settings.kafka_bootstrap, list(TOPICS.values()))
    try:
        demo.start_services(settings, teacher)
        times = demo.traffic(settings, release, prom)
        console.print("[bold]5. Draining[/]: gateway -> Kafka, last window, labelling backlog")
        demo.settle(prom, times, settings.stack.prometheus.scrape_interval_s)
        demo.summarise(tail, prom, times)
    finally:
        with _ignoring_sigint():  # a second Ctrl-C must not cut the clean-up short
            console.print("[bold]6. Stopping the services the demo started[/]")
            demo.stop_services()
            tail.close()
    print_summary(demo.result, config, console)
    return demo.result
