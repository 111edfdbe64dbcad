"""What one demo run does: a frozen config, with the full and the ``--quick`` presets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from services.errors import ConfigError

TEACHERS = ("e5-small", "keyword")  # or a fine-tuned teacher folder


@dataclass(frozen=True)
class DemoConfig:
    devices: int = 50  # simulated devices, each with its own MQTT account
    rate_hz: float = 0.5  # predictions per second per device
    phase0_s: float = 70.0  # seconds of phase-0 traffic (the world the student was trained on)
    drift_s: float = 70.0  # seconds of phase-2 traffic after the switch (drift, a new label)
    window_s: float = 10.0  # the processor's tumbling window
    grace_s: float = 2.0  # a window closes this long after its end
    budget_per_window: int = 20  # label requests per window and model version
    corpus_train: int = 2000  # train examples per phase of the synthetic corpus (seed 0)
    corpus_eval: int = 300  # valid and test examples per phase
    student_steps: int = 300  # optimizer steps of the student (stage 1, hard labels)
    teacher: str = "e5-small"  # labeller: e5-small (head fine-tuned here, cached) | keyword | dir
    teacher_steps: int = 80  # fine-tuning steps of the e5-small teacher
    malformed: int = 2  # malformed payloads one device sends, to show the dead-letter path
    var_dir: Path = Path("var/demo")  # cached corpus, student, teacher; logs; blobs

    def __post_init__(self) -> None:
        if self.devices < 1 or self.rate_hz <= 0:
            raise ConfigError(f"devices >= 1 and rate_hz > 0 needed, got {self}")
        if min(self.phase0_s, self.drift_s) < 2 * self.window_s:
            raise ConfigError("each phase must last at least two processor windows")
        if self.teacher not in TEACHERS and not Path(self.teacher).is_dir():
            raise ConfigError(
                f"teacher must be one of {TEACHERS} or a fine-tuned teacher folder, "
                f"got {self.teacher!r}"
            )

    @property
    def traffic_s(self) -> float:
        return self.phase0_s + self.drift_s


FULL = DemoConfig()
# For the test and a first look: fewer devices, short phases, the keyword stand-in labeller.
QUICK = replace(
    FULL,
    devices=12,
    rate_hz=4.0,
    phase0_s=24.0,
    drift_s=24.0,
    window_s=6.0,
    grace_s=1.0,
    budget_per_window=10,
    corpus_train=1200,
    corpus_eval=400,
    student_steps=100,
    teacher="keyword",
)
