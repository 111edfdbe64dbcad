"""``python -m services.probe PORT METRIC``: exit 0 when the service on 127.0.0.1:PORT serves
``/metrics`` with METRIC >= 1, else 1. A container readiness probe on a service's own
readiness signal (e.g. ``fleet_processor_worker_ready``, ``fleet_gateway_connected``),
without a second HTTP endpoint in every service."""

from __future__ import annotations

import re
import sys
import urllib.request


def ready(port: int, metric: str, timeout_s: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as r:
            text = r.read().decode("utf-8", "replace")
    except OSError:
        return False
    pattern = rf"^{re.escape(metric)}(?:\{{[^}}]*\}})? (\S+)$"
    return any(float(v) >= 1 for v in re.findall(pattern, text, flags=re.MULTILINE))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[0].isdigit():
        print("usage: python -m services.probe PORT METRIC", file=sys.stderr)
        return 2
    return 0 if ready(int(args[0]), args[1]) else 1


if __name__ == "__main__":
    sys.exit(main())
