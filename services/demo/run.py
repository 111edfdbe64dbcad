"""The demo's steps, top to bottom: stack, student and release 1, services, traffic on release
1, the loop (retrain -> release 2 -> rollout), traffic on release 2, summary."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console

from contract.schemas import PredictionEvent
from contract.topics import TOPIC_NAMES
from services.demo import artifacts, auto, gold, loop, plots
from services.demo.config import DemoConfig
from services.demo.devices import SimulatedFleet, TrafficStats, demo_accounts
from services.demo.loop import Times
from services.demo.oracle import CorpusOracle, gold_labels
from services.demo.processes import (
    GROUPS,
    ServiceProcess,
    port_in_use,
    service_specs,
    skip_backlog,
    wait_ready,
)
from services.demo.report import (
    DriftWindowStats,
    KafkaCounts,
    KafkaTail,
    count_records,
    drift_between,
    low_confidence,
    service_counters,
)
from services.errors import ServiceError
from services.promql import Prometheus
from services.releases.keys import load_or_create_key
from services.security.access import Access
from services.settings import REPO_ROOT, FleetSettings, load_settings
from services.stack import Stack
from services.stack.cli import print_status

TOPICS = {
    "predictions": TOPIC_NAMES["predictions"],
    "dlq": TOPIC_NAMES["predictions_dlq"],
    "requests": TOPIC_NAMES["label_requests"],
    "labeled": TOPIC_NAMES["labeled"],
    "status": TOPIC_NAMES["device_status"],
    "releases": TOPIC_NAMES["releases"],
    "rollouts": TOPIC_NAMES["rollouts"],  # the rollout manager's state
}


@dataclass
class DemoResult:
    version: int = 0  # the release the devices started with (signed, in the release store)
    teacher: str = ""  # what labeled: keyword, oracle, or a fine-tuned teacher folder
    devices: str = ""  # what ran the devices
    traffic: TrafficStats = field(default_factory=TrafficStats)
    kafka: KafkaCounts = field(default_factory=KafkaCounts)
    counters: dict[str, float | None] = field(default_factory=dict)  # from Prometheus
    drift_before: dict[tuple[str, str], DriftWindowStats] = field(default_factory=dict)
    drift_after: dict[tuple[str, str], DriftWindowStats] = field(default_factory=dict)
    drift_new: dict[tuple[str, str], DriftWindowStats] = field(default_factory=dict)  # v2
    low_conf_before: float | None = None  # mean low-confidence share of phase-0 windows
    low_conf_after: float | None = None  # ... of phase-2 windows on the first release
    low_conf_new: float | None = None  # ... of phase-2 windows on the new release
    loop: loop.LoopResult = field(default_factory=loop.LoopResult)
    rounds: list[auto.Round] = field(default_factory=list)  # --auto: one per drift phase
    phases: tuple[int, ...] = (0, 2)  # the traffic phases, in order
    gold: gold.GoldReport = field(default_factory=gold.GoldReport)  # accuracy vs the truth
    alerts: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    alert_rules: int = 0
    not_included: list[str] = field(default_factory=list)
    pictures: list[Path] = field(default_factory=list)  # plots and the ops page's screenshot

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
        self.oracle: CorpusOracle | None = None
        self.result = DemoResult(phases=self.config.phases)
        self.device_ids: set[str] = set()  # whose predictions this run counts
        self.releases_root = Path("var/releases")  # the stack's release store (stack())

    def say(self, text: str) -> None:
        self.console.print(text)

    def alive(self) -> None:
        for service in self.services:
            service.check_alive()

    # 1. ------------------------------------------------------------------------------------
    def stack(self) -> FleetSettings:
        settings = load_settings()
        self.releases_root = settings.data_dir / "releases"
        self.say("[bold]1. Stack[/]: Kafka, Mosquitto, Prometheus (reuses what already runs)")
        started = time.monotonic()
        Stack(settings).up()
        self.say(
            f"   up in {time.monotonic() - started:.1f}s; MQTT accounts from "
            f"{settings.stack.registry}"
        )
        print_status(Stack(settings))
        for name, port in settings.metrics_ports.by_service().items():
            if port_in_use(port):
                raise ServiceError(
                    f"port {port} is taken: is a {name} already running? Stop it, the demo "
                    "starts its own"
                )
        return settings

    # 2. ------------------------------------------------------------------------------------
    def student(self) -> tuple[Path, dict[str, float]]:
        c = self.config
        self.say("[bold]2. Student[/]: synthetic corpus phase 0 -> TinyLSTM (stage 1)")
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
        return student, metrics

    def teacher(self) -> str:
        c = self.config
        data = artifacts.corpus(c, self.logs)
        started = time.monotonic()
        if c.teacher == "oracle":
            self.oracle = CorpusOracle(gold_labels(data))
            self.say(
                f"   labeler teacher: [yellow]corpus oracle[/] at {self.oracle.url} (no model: "
                "the synthetic corpus' gold labels behind an OpenAI-compatible chat-completions "
                "endpoint, asked through the labeler's LLM adapter) - run without --quick "
                "for e5-small"
            )
            self.result.teacher = "oracle"
            return self.oracle.teacher
        teacher, cached = artifacts.teacher(c, data, self.logs)
        if teacher == "keyword":
            self.say(
                "   labeler teacher: [yellow]keyword stand-in[/] (no weights; labels from a "
                "keyword table, else a hash of the text: no basis for a retrain)"
            )
        elif c.teacher != "e5-small":
            self.say(f"   labeler teacher: the fine-tuned teacher folder {teacher}")
        else:
            how = "cached" if cached else f"fine-tuned in {time.monotonic() - started:.0f}s"
            self.say(
                f"   labeler teacher: {teacher} ({how}; multilingual-e5-small encoder with a "
                f"classification head, up to {c.teacher_epochs} epochs with early stopping on "
                f"{c.teacher_per_phase} labeled messages of every phase)"
            )
        self.result.teacher = teacher
        return teacher

    # 3. ------------------------------------------------------------------------------------
    def start_services(self, settings: FleetSettings, teacher: str) -> None:
        c, data = self.config, artifacts.corpus(self.config, self.logs)
        self.say(
            "[bold]3. Services[/]: fleet gateway | processor | labeler | distiller | rollout | "
            "control run"
        )
        shutil.rmtree(self.var / "distiller", ignore_errors=True)  # this run's labels only
        # The release key pair before the services start: the distiller and the rollout
        # manager each create it when missing, and two at once would not agree.
        load_or_create_key(settings.data_dir / "keys")
        labels = sorted(set(gold_labels(data).values()))
        specs = service_specs(c, self.var, data, teacher, labels, settings.metrics_ports)
        inputs = {
            GROUPS["processor"]: [TOPICS["predictions"]],
            GROUPS["labeler"]: [TOPICS["requests"]],
            GROUPS["distiller"]: [TOPICS["labeled"], TOPIC_NAMES["ops_commands"]],
            GROUPS["rollout"]: [TOPICS["releases"], TOPICS["status"], TOPIC_NAMES["ops_commands"]],
        }
        for group, topics in inputs.items():
            skipped = skip_backlog(Access(settings).kafka("admin"), group, topics)
            if skipped:
                self.say(f"   consumer group {group}: skipped {skipped} records of earlier runs")
        for service in specs:
            self.services.append(service.start())
        wait_ready(self.services)
        self.say(
            f"   running; logs in {self.logs}; distiller: {c.distill_steps} steps per cycle, "
            "replay set phase-0 train.jsonl, drift trigger off (the demo sends ops redistill); "
            f"rollout: canary (bake {c.canary_bake_s:.0f}s) -> fleet; ops API "
            f"http://127.0.0.1:{settings.metrics_ports.control}/"
        )

    def release(
        self, settings: FleetSettings, student: Path, metrics: dict[str, float]
    ) -> artifacts.Release:
        data = artifacts.corpus(self.config, self.logs)
        lines = (data / "phase0" / "valid.jsonl").read_text("utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in lines]
        access = Access(settings)
        known = artifacts.known_versions(
            access.kafka("monitor"), TOPICS["releases"], TOPICS["rollouts"]
        )
        release = artifacts.seed_release(
            student, texts, settings.data_dir / "releases", settings.data_dir / "keys",
            access.kafka("distiller"), TOPICS["releases"], known, metrics,
        )  # fmt: skip
        self.say(
            f"   release v{release.version}: {release.manifest.size} bytes, sha256 "
            f"{release.manifest.sha256[:12]}..., reference profile from {len(texts)} held-out "
            f"phase-0 messages, signed (var/keys/release.key), stored in {release.blob.parent}, "
            f"published to {TOPICS['releases']}"
        )
        self.result.version = release.version
        return release

    # 4. ------------------------------------------------------------------------------------
    def traffic(
        self, settings: FleetSettings, release: artifacts.Release, prom: Prometheus
    ) -> Times:
        c = self.config
        data = artifacts.corpus(c, self.logs)
        texts = {}
        for phase in c.phases:
            lines = (data / f"phase{phase}" / "test.jsonl").read_text("utf-8").splitlines()
            texts[phase] = [json.loads(line)["text"] for line in lines]
        access = Access(settings)
        accounts = demo_accounts(access.registry, c.devices, c.canary_devices)
        from services.devices.cli import trusted_key

        self.fleet = SimulatedFleet(
            accounts, access, trusted_key(settings, None), release.blob, c.rate_hz
        )
        self.device_ids = {a.id for a in accounts}
        self.result.devices = self.fleet.description
        first = c.drift_phases[0]
        plan = (
            f"then phases {', '.join(map(str, c.drift_phases))}, each until the distiller's drift "
            f"trigger made a release and every device runs it, plus ~{c.after_s:.0f}s"
            if c.auto
            else f"then phase {first} (drift: new carriers and phrasing, new label 拦截) for "
            f"~{c.drift_s:.0f}s on release {release.version}, on while the loop runs, then "
            f"~{c.after_s:.0f}s on the new release"
        )
        self.say(
            f"[bold]4. Traffic[/]: {c.devices} devices x {c.rate_hz}/s, phase 0 for "
            f"~{c.phase0_s:.0f}s, {plan}\n   devices: {self.fleet.description}"
        )
        self.fleet.connect()
        # start and switch on processor window boundaries: every window is full and holds
        # one phase only
        w = c.window_s
        started = math.ceil(time.time() / w) * w
        switch = started + math.ceil(c.phase0_s / w) * w
        v1_end = math.nan if c.auto else switch + math.ceil(c.drift_s / w) * w
        time.sleep(max(started - time.time(), 0))
        self.fleet.start([(0, switch), (first, math.inf)], texts)
        if c.malformed:
            self.fleet.send_malformed(c.malformed)
        self.progress(prom, started, switch)
        self.say(
            f"   [bold]phase {first} from {time.strftime('%H:%M:%S', time.localtime(switch))}[/]"
        )
        if not c.auto:
            self.progress(prom, started, v1_end)
        return Times(started, switch, v1_end)

    def progress(self, prom: Prometheus, started: float, until: float) -> None:
        every = max(self.config.window_s, 10.0)
        while (left := until - time.time()) > 0:
            time.sleep(min(left, every))
            self.alive()
            self._report_progress(prom, started)

    def _report_progress(self, prom: Prometheus, started: float) -> None:
        parts = []
        versions = self._versions()
        new = versions[-1] if len(versions) > 1 else None
        for version in (versions[-2] if new else versions[-1], new):
            if version is None:
                continue
            v = f'model_version="{version}"'
            events = prom.scalar(f"sum(fleet_processor_events_total{{{v}}})")
            if events is None and version == new:
                continue
            psi = prom.scalar(f'max(fleet_processor_drift{{{v},statistic="psi"}})')
            parts.append(
                f"v{version}: events {events or 0:.0f}, last window PSI "
                f"{'-' if psi is None else f'{psi:.3f}'}"
            )
        ours = "|".join(str(v) for v in self._versions())
        requests = (
            prom.scalar(f'sum(fleet_processor_label_requests_total{{model_version=~"{ours}"}})')
            or 0
        )
        labels = prom.scalar("sum(fleet_labeler_labels_total)") or 0
        self.say(
            f"   +{time.time() - started:4.0f}s  {'; '.join(parts)}; label requests "
            f"{requests:.0f}, labeled {labels:.0f}   (Prometheus)"
        )

    # 5. ------------------------------------------------------------------------------------
    def close_loop(self, prom: Prometheus, times: Times, scrape_s: float) -> Times:
        if self.config.auto:
            return auto.close(self, prom, times, scrape_s)
        return loop.close(self, prom, times, scrape_s)

    # 6. ------------------------------------------------------------------------------------
    def settle(self, prom: Prometheus, times: Times, scrape_s: float) -> None:
        """Wait until the gateway forwarded everything, the processor counted every event and
        closed the last window, the labeler labeled every request, and Prometheus scraped."""
        gateway, processor, labeler = self.services[:3]
        expected = self.result.published + self.result.traffic.malformed
        gateway.wait_for(
            lambda: (
                (prom.scalar('sum(fleet_gateway_received_total{kind="pred"})') or 0) >= expected
            ),
            f"{expected} messages through the gateway",
            60,
        )
        versions = "|".join(str(v) for v in self._versions())
        events = f'sum(fleet_processor_events_total{{model_version=~"{versions}"}})'
        processor.wait_for(
            lambda: (prom.scalar(events) or 0) >= self.result.published,
            f"{self.result.published} events in the processor",
            90,
        )
        # the last window closes grace_s after the end, at the processor's next tick
        time.sleep(max(times.end + self.config.grace_s + 1 - time.time(), 0) + scrape_s + 1)
        labeler.wait_for(
            lambda: prom.scalar("sum(fleet_labeler_backlog)") == 0, "the labeling backlog", 300
        )
        time.sleep(scrape_s + 1)

    def _versions(self) -> list[int]:
        made = [rnd.loop.version for rnd in self.result.rounds] or [self.result.loop.version]
        return [self.result.version, *(v for v in made if v)]

    def _mine(self, started: float) -> Callable[[PredictionEvent], bool]:
        """This run's predictions: its devices and releases, classified since it started."""
        ids, versions = set(self.device_ids), set(self._versions())
        return lambda e: e.device_id in ids and e.model_version in versions and e.ts >= started

    def summarise(self, tail: KafkaTail, prom: Prometheus, times: Times, public_key: bytes) -> None:
        r, c = self.result, self.config
        records = tail.read()
        corpus = artifacts.corpus(c, self.logs)
        starts = [(times.started, 0), (times.switch, c.drift_phases[0])]
        starts += [(rnd.end, c.drift_phases[k + 1]) for k, rnd in enumerate(r.rounds[:-1])]

        def phase_of(ts: float) -> int:
            return max((s for s in starts if s[0] <= ts), default=starts[0])[1]

        r.kafka = count_records(
            records, TOPICS, self._mine(times.started), times.switch, phase_of,
            gold=gold_labels(corpus),
        )  # fmt: skip
        for rnd in r.rounds:
            loop.read_back(records, TOPICS, rnd.loop, self.device_ids, public_key)
            auto.alert_times(prom, rnd, c.window_s)
            auto.trigger_time(rnd)
        if not r.rounds:
            loop.read_back(records, TOPICS, r.loop, self.device_ids, public_key)
        r.gold = gold.report(
            self.releases_root, self._versions(), corpus, c.phases, r.kafka.gold_live,
            r.kafka.teacher_gold, r.teacher,
        )  # fmt: skip
        r.loop.final_versions = dict(r.kafka.last_version)
        r.loop.closed = (
            r.loop.manifest is not None
            and r.loop.signed
            and set(r.loop.confirmed_at) == self.device_ids
            and r.kafka.by_version.get(r.loop.version or 0, 0) > 0
            and (not c.auto or auto.rounds_closed(r, self.device_ids))
        )
        r.counters = service_counters(prom, self._versions())
        # the gauge shows the last closed window: windows of a phase close by its end + grace,
        # the first window of the next at its start + window + grace
        half = c.window_s / 2
        before_end = times.switch + c.grace_s + half
        after_start = times.switch + c.window_s + c.grace_s + half
        after_end = times.v1_end + c.grace_s + 2
        new_start = times.v2_start + c.window_s + c.grace_s + half
        final = times.end + c.grace_s + 2
        r.drift_before = drift_between(prom, r.version, times.started, before_end)
        r.drift_after = drift_between(prom, r.version, after_start, after_end)
        r.low_conf_before = low_confidence(prom, r.version, times.started, before_end)
        r.low_conf_after = low_confidence(prom, r.version, after_start, after_end)
        if r.loop.version and math.isfinite(times.v2_start):
            r.drift_new = drift_between(prom, r.loop.version, new_start, final)
            r.low_conf_new = low_confidence(prom, r.loop.version, new_start, final)
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
        if self.oracle is not None:
            self.oracle.close()
            self.oracle = None


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
    from services.devices.cli import trusted_key

    demo = Demo(config, console)
    demo.result.not_included = [
        "Grafana: the dashboards in deploy/grafana/ need a Grafana server (not in the stack)",
    ]
    settings = demo.stack()
    prom = Prometheus(settings.prometheus_url)
    prom.reload()
    scrape_s = settings.stack.prometheus.scrape_interval_s
    student, metrics = demo.student()
    teacher = demo.teacher()
    tail: KafkaTail | None = None
    try:
        demo.start_services(settings, teacher)
        # (after the rollout manager created its state topic)
        tail = KafkaTail(Access(settings).kafka("monitor"), list(TOPICS.values()))
        release = demo.release(settings, student, metrics)
        times = demo.traffic(settings, release, prom)
        times = demo.close_loop(prom, times, scrape_s)
        console.print("[bold]6. Draining[/]: gateway -> Kafka, last window, labeling backlog")
        demo.settle(prom, times, scrape_s)
        demo.summarise(tail, prom, times, trusted_key(settings, None))
        demo.result.pictures = plots.pictures(demo.result, settings, prom, times, demo.var)
    finally:
        with _ignoring_sigint():  # a second Ctrl-C must not cut the clean-up short
            console.print("[bold]7. Stopping the services the demo started[/]")
            demo.stop_services()
            if tail is not None:
                tail.close()
    print_summary(demo.result, config, console)
    if console.record:
        summary = demo.var / "summary" / "summary.txt"
        console.save_text(str(summary))
        console.print(f"(this output: {summary})")
    return demo.result
