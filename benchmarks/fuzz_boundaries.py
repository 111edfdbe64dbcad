"""Fuzzing at every boundary where bytes from outside enter: generated inputs through each, 0
crashes allowed, every refusal with a reason. Then the firmware's libFuzzer targets.

    python -m benchmarks.fuzz_boundaries [--inputs 10000] [--only NAME,...]
                                         [--libfuzzer-seconds 600]

Boundaries (``fuzz_judges.py``): MQTT payloads at the gateway, ops API bodies (the aiohttp
application in-process), manifests and OTA chunk sequences at the device, and Kafka records at
each consumer (processor, labeler, distiller, and the rollout manager's three inputs).
Inputs come from hypothesis: random bytes, random JSON, valid messages with one field
replaced by a random JSON value, removed, or an unknown one added, and valid messages
truncated or with bytes flipped. A crash is an exception out of the boundary, an HTTP 500, a
record the rollout manager had to skip as poison, or a corrupt blob confirmed on a device.

libFuzzer (``make -C firmware fuzz``): the tokenizer, the blob reader and the OTA chunk
sequence, each for ``--libfuzzer-seconds`` under ASan/UBSan (0 = skip).

Prints JSON; exit status 1 on any crash or a refusal without a reason.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import re
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from benchmarks import fuzz_judges as judges
from contract.schemas import examples
from services.settings import REPO_ROOT

# -- generated inputs --------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into the dicts and lists of ``doc``."""
    out: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        items: Any = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    else:
        return out
    for key, value in items:
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


@st.composite
def _mutated(draw: Callable[..., Any], docs: list[Any]) -> bytes:
    doc = copy.deepcopy(draw(st.sampled_from(docs)))
    paths = _paths(doc)
    if not paths:
        return _dumps(draw(JSON))
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(JSON)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=12))] = draw(JSON)
    else:
        parent.append(draw(JSON))
    return _dumps(doc)


@st.composite
def _damaged(draw: Callable[..., Any], valid: list[bytes]) -> bytes:
    raw = bytearray(draw(st.sampled_from(valid)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(raw) - 1)))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and raw:
            raw[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del raw[at:]
        else:
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(raw)


def payloads(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    """Hostile bytes around the ``valid`` examples (which are included)."""
    docs = [json.loads(v) for v in valid]
    return st.one_of(
        st.sampled_from(valid),
        st.binary(max_size=600),
        JSON.map(_dumps),
        _mutated(docs),
        _damaged(valid),
    )


# -- the boundaries ----------------------------------------------------------------------------


def _ops_bodies() -> list[bytes]:
    return [b'{"max_steps": 5}', b'{"version": 2, "groups": ["canary"]}', b"{}",
            b'{"to_version": 2, "groups": ["fleet"]}', b'{"reason": "drift"}']  # fmt: skip


def _chunk_steps() -> st.SearchStrategy[list[tuple[str, Any]]]:
    """Random sequences, and the whole good download with a few hostile chunks spliced in."""
    fields = st.sampled_from(["version", "offset", "total", "crc32", "data_b64", "schema_version"])
    good = st.just(("good", None))
    bad = st.one_of(
        st.tuples(st.just("field"), st.tuples(fields, JSON)),
        st.tuples(st.just("raw"), st.binary(max_size=200) | JSON.map(_dumps)),
    )
    whole = -(-len(judges.tiny_blob(2)) // judges.CHUNK)

    @st.composite
    def spliced(draw: Callable[..., Any]) -> list[tuple[str, Any]]:
        steps: list[tuple[str, Any]] = [("good", None)] * whole
        for _ in range(draw(st.integers(0, 3))):
            steps.insert(draw(st.integers(0, len(steps))), draw(bad))
        return steps

    return st.lists(good | good | bad, min_size=1, max_size=30) | spliced()


def boundaries() -> dict[str, tuple[Callable[[], judges.Judge], st.SearchStrategy[Any]]]:
    """name -> (set-up returning the judge, generated inputs)."""
    from contract.schemas import (
        parse_device_status,
        parse_ops_command,
        parse_release_manifest,
    )

    key = judges.Ed25519PrivateKey.generate()
    pred = examples.prediction_event("dev-0001", seq=1).to_bytes()
    status = examples.device_status("dev-0001").to_bytes()
    request = examples.label_request().to_bytes()
    sample = examples.labeled_sample().to_bytes()
    manifest = judges.release(key)[1].to_bytes()
    halt = b'{"command":"halt","command_id":"c2","issued_by":"ops","ts":1800000000.0}'
    commands = [examples.rollout_command().to_bytes(), halt]
    topics = st.sampled_from(["fleet/dev-0001/pred", "fleet/dev-0001/status"]) | st.text(
        max_size=40
    )
    return {
        "gateway_mqtt": (
            judges.gateway_mqtt,
            st.tuples(topics, payloads([pred, status])),
        ),
        "ops_api": (
            judges.ops_api,
            st.tuples(
                st.sampled_from(["redistill", "rollout", "halt", "rollback"]),
                payloads(_ops_bodies()),
            ),
        ),
        "device_manifest": (lambda: judges.device_manifest(key), payloads([manifest])),
        "device_ota_chunks": (judges.device_ota_chunks, _chunk_steps()),
        "processor_records": (judges.processor_records, payloads([pred])),
        "labeler_records": (judges.labeler_records, payloads([request])),
        "distiller_records": (
            judges.distiller_records,
            st.tuples(st.just("labeled"), payloads([sample]))
            | st.tuples(st.just("ops"), payloads(commands)),
        ),
        "rollout_releases": (
            lambda: judges.rollout_records(lambda s: s.releases_topic, parse_release_manifest),
            payloads([manifest]),
        ),
        "rollout_status": (
            lambda: judges.rollout_records(lambda s: s.status_topic, parse_device_status),
            payloads([status]),
        ),
        "rollout_ops": (
            lambda: judges.rollout_records(lambda s: s.ops_topic, parse_ops_command),
            payloads(commands),
        ),
    }


# -- running -----------------------------------------------------------------------------------


@dataclass
class Tally:
    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    ignored: int = 0
    crashes: int = 0
    refused_without_reason: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    first_crash: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs, "accepted": self.accepted, "refused": self.refused,
            "ignored": self.ignored, "crashes": self.crashes,
            "refused_without_reason": self.refused_without_reason,
            "seconds": round(self.seconds, 1),
            "top_reasons": [r for r, _ in self.reasons.most_common(5)],
            **({"first_crash": self.first_crash} if self.first_crash else {}),
        }  # fmt: skip


def _shape(reason: str) -> str:
    """A reason without its numbers and quoted values, for the most common ones."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", reason)[:80]


def run(name: str, inputs: int) -> Tally:
    setup, strategy = boundaries()[name]
    judge, tally = setup(), Tally()

    @settings(max_examples=inputs, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def one(item: Any) -> None:
        tally.inputs += 1
        try:
            verdict, reason = judge(item)
        except Exception:
            tally.crashes += 1
            if tally.first_crash is None:
                tally.first_crash = f"{item!r:.300}\n{traceback.format_exc()[-1500:]}"
            return
        if verdict == "refused":
            tally.refused += 1
            tally.reasons[_shape(reason)] += 1
            tally.refused_without_reason += not reason.strip()
        elif verdict == "accepted":
            tally.accepted += 1
        else:
            tally.ignored += 1

    started = time.perf_counter()
    try:
        one()
    finally:
        close = getattr(judge, "close", None)  # a judge serving a socket stops it
        if close is not None:
            close()
    tally.seconds = time.perf_counter() - started
    return tally


def libfuzzer(seconds: int) -> dict[str, Any]:
    """``make -C firmware fuzz`` for ``seconds`` per target: executions and crashes each."""
    proc = subprocess.run(
        ["make", "-C", str(REPO_ROOT / "firmware"), "fuzz", f"FUZZ_SECONDS={seconds}"],
        capture_output=True, text=True, timeout=seconds * 4 + 900,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    runs = [int(n) for n in re.findall(r"stat::number_of_executed_units:\s+(\d+)", log)]
    names = ["tokenizer", "blob_reader", "ota_chunk_sequence"]
    crashed = "ERROR: AddressSanitizer" in log or "runtime error" in log or proc.returncode != 0
    return {
        "seconds_per_target": seconds,
        "executions": dict(zip(names, runs, strict=False)),
        "crashes": int(crashed),
        **({"log_tail": log[-3000:]} if crashed else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000, help="generated inputs per boundary")
    parser.add_argument("--only", default="", help="comma-separated boundary names")
    parser.add_argument("--libfuzzer-seconds", type=int, default=600, help="0 skips libFuzzer")
    args = parser.parse_args(argv)
    logging.getLogger().addHandler(logging.NullHandler())  # refusals are counted, not printed
    names = [n for n in args.only.split(",") if n] or list(boundaries())
    report: dict[str, Any] = {"inputs_per_boundary": args.inputs, "boundaries": {}}
    for name in names:
        print(f"# {name}", file=sys.stderr, flush=True)
        report["boundaries"][name] = run(name, args.inputs).summary()
    if args.libfuzzer_seconds:
        report["libfuzzer"] = libfuzzer(args.libfuzzer_seconds)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    bad = [b for b in report["boundaries"].values() if b["crashes"] or b["refused_without_reason"]]
    return 1 if bad or report.get("libfuzzer", {}).get("crashes") else 0


if __name__ == "__main__":
    sys.exit(main())
