"""Capacity model: partitions and process counts for a fleet size, from measured rates.

Devices send one prediction every ``--interval`` seconds (10). Per fleet size it derives:

- ingress ``msg/s`` = devices / interval;
- gateways = ingress / (one gateway's saturation rate x ``--headroom``);
- brokers: Mosquitto is one process and does not cluster; past one broker's raw QoS 1 rate
  (x headroom) devices must be sharded over several (or a clustered broker), one share
  group of gateways per broker;
- processor workers = ingress / (one worker's rate x headroom); the ``fleet.predictions``
  partitions must be at least the workers (a partition has one consumer) and leave room to
  grow: the next multiple of 6 above twice the workers. One model version's windows are
  aggregated on one partition of the re-keyed topic (services/processor/service.py), so a
  single version's traffic above one worker's rate is a limit more workers do not lift;
- labels/s = ingress x ``--label-share`` (the share of predictions sent to the teacher);
  labelers = labels/s / (one labeler's teacher rate x headroom);
- distiller: one process; a cycle fine-tunes on the new labels (plus replay), measured as
  seconds per label; with a cycle every ``--cycle-s`` the distiller keeps up while
  labels per cycle x seconds per label < cycle-s.

The first bottleneck is the component that needs scaling beyond what adding processes of
the same kind solves (a broker, one version's aggregation, the distiller), or, when none
does, the one with the highest load relative to one process.

Rates: the defaults are the README's measurements (the commands that printed them are named
next to each); ``--gateway-json`` / ``--stream-json`` take the JSON of a fresh
``benchmarks.gateway_throughput`` / ``benchmarks.stream_throughput`` run instead.

Run: ``python -m benchmarks.capacity`` (prints a markdown table, then JSON).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rates:
    gateway_msg_s: float  # one gateway process, saturation (benchmarks.gateway_throughput)
    # one broker core, raw QoS 1 pub -> sub: the raw run's rate / Mosquitto's CPU share in it
    # (benchmarks.gateway_throughput); its wall-clock rate on the shared machine is bound by
    # scheduling delays x the publishers' window, not by the broker
    mosquitto_msg_s: float
    processor_events_s: float  # one worker (benchmarks.stream_throughput)
    labeler_labels_s: float  # one labeler with the e5-small teacher (benchmarks.stream_throughput)
    distiller_s_per_label: float  # cycle seconds per label (benchmarks.distiller_cycle)


# The README's numbers (2-CPU shared development machine; see each benchmark's section).
MEASURED = Rates(
    gateway_msg_s=5_962.0,  # median of 3 floods, one gateway
    mosquitto_msg_s=87_000.0,  # 4 372 msg/s raw with Mosquitto at 0.05 of a core
    processor_events_s=1_220.0,
    labeler_labels_s=72.0,
    distiller_s_per_label=14.7 / 1_100,  # 14.7 s for 1 000 + 100 labels (plus replay rows)
)


def from_json(rates: Rates, gateway: Path | None, stream: Path | None) -> Rates:
    values = asdict(rates)
    if gateway is not None:
        g = json.loads(gateway.read_text())
        values["gateway_msg_s"] = g["gateway"]["saturation"]["throughput_msg_s"]
        raw = g["mosquitto_raw"]
        values["mosquitto_msg_s"] = raw["throughput_msg_s"] / raw["broker_cpu_cores"]["mosquitto"]
    if stream is not None:
        s = json.loads(stream.read_text())
        single = [p for p in s["processor"] if p["workers"] == 1]
        values["processor_events_s"] = single[0]["events_per_s"]
        teacher = s.get("labeler_real_teacher", {})
        if "labels_per_s" in teacher:
            values["labeler_labels_s"] = teacher["labels_per_s"]
    return Rates(**values)


def plan(devices: int, rates: Rates, interval_s: float, headroom: float, label_share: float,
         cycle_s: float) -> dict:  # fmt: skip
    ingress = devices / interval_s
    brokers = math.ceil(ingress / (rates.mosquitto_msg_s * headroom))
    gateways = max(2, math.ceil(ingress / (rates.gateway_msg_s * headroom)))  # 2: one may fail
    workers = max(1, math.ceil(ingress / (rates.processor_events_s * headroom)))
    partitions = max(6, 6 * math.ceil(2 * workers / 6))
    labels_s = ingress * label_share
    labelers = max(1, math.ceil(labels_s / (rates.labeler_labels_s * headroom)))
    distiller_load = labels_s * cycle_s * rates.distiller_s_per_label / cycle_s
    loads = {  # demand / what one process (or the one broker, the one distiller) gives
        "broker": ingress / rates.mosquitto_msg_s,
        "gateway": ingress / rates.gateway_msg_s,
        "processor (one model version's aggregation)": ingress / rates.processor_events_s,
        "teacher labeling": labels_s / rates.labeler_labels_s,
        "distiller": distiller_load,
    }
    single = ("broker", "processor (one model version's aggregation)", "distiller")
    over = sorted((k for k in single if loads[k] > headroom), key=loads.__getitem__, reverse=True)
    bottleneck = over[0] if over else max(loads, key=loads.__getitem__)
    return {
        "devices": devices,
        "ingress_msg_s": round(ingress, 1),
        "mosquitto_brokers": brokers,
        "gateways": gateways,
        "predictions_partitions": partitions,
        "processor_workers": workers,
        "labels_s": round(labels_s, 2),
        "labelers": labelers,
        "distiller_busy_share": round(distiller_load, 3),
        "load_vs_one_process": {k: round(v, 2) for k, v in loads.items()},
        "first_bottleneck": bottleneck,
        "then": over[1:],  # other single-process limits past the headroom, worst first
    }


ADVICE = {
    "broker": "shard devices over several Mosquitto brokers by id (one gateway share group "
    "each), or move to a clustered MQTT broker with shared subscriptions",
    "gateway": "add gateway pods to the share group (StatefulSet replicas)",
    "processor (one model version's aggregation)": "pre-aggregate windows per source "
    "partition and merge the partial windows per version (two-stage), so one version's "
    "traffic spreads over workers",
    "teacher labeling": "add labeler pods up to the label-requests partitions, or a GPU "
    "teacher / batched LLM endpoint",
    "distiller": "lower --label-share (sample harder), longer cycles, or train on a GPU; "
    "the distiller is one process by design (one release at a time)",
}


def table(plans: list[dict]) -> str:
    head = ("| devices | msg/s | brokers | gateways | partitions | processor workers | labels/s "
            "| labelers | distiller busy | first bottleneck |")  # fmt: skip
    rows = [head, "|" + "---:|" * 9 + "---|"]
    for p in plans:
        rows.append(
            f"| {p['devices']:,} | {p['ingress_msg_s']:,.0f} | {p['mosquitto_brokers']} "
            f"| {p['gateways']} | {p['predictions_partitions']} | {p['processor_workers']} "
            f"| {p['labels_s']:g} | {p['labelers']} | {p['distiller_busy_share']:.0%} "
            f"| {p['first_bottleneck']}{''.join(f'; then {t}' for t in p['then'])} |"
        )
    return "\n".join(rows).replace(",", " ")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="10000,100000,1000000")
    parser.add_argument("--interval", type=float, default=10.0, help="s between predictions")
    parser.add_argument("--headroom", type=float, default=0.5, help="target use of a process")
    parser.add_argument("--label-share", type=float, default=0.001,
                        help="share of predictions labeled by the teacher")  # fmt: skip
    parser.add_argument("--cycle-s", type=float, default=3600.0, help="distiller cycle period")
    parser.add_argument("--gateway-json", type=Path)
    parser.add_argument("--stream-json", type=Path)
    args = parser.parse_args(argv)
    rates = from_json(MEASURED, args.gateway_json, args.stream_json)
    plans = [
        plan(int(d), rates, args.interval, args.headroom, args.label_share, args.cycle_s)
        for d in args.devices.split(",")
    ]
    print(table(plans))
    print()
    print(json.dumps({
        "benchmark": "capacity",
        "rates": asdict(rates),
        "assumptions": {"interval_s": args.interval, "headroom": args.headroom,
                        "label_share": args.label_share, "cycle_s": args.cycle_s},
        "plans": plans,
        "advice": {k: ADVICE[k] for p in plans for k in [p["first_bottleneck"], *p["then"]]},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
