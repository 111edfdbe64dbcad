"""What one demo run does: a frozen config, with the full and the ``--quick`` presets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from models.errors import ConfigError

# e5-small: fine-tuned here; oracle: the corpus' gold labels behind a local chat-completions
# endpoint (the labeler's LLM path, no model); keyword: the labeler's in-memory double
TEACHERS = ("e5-small", "oracle", "keyword")  # or a fine-tuned teacher folder


@dataclass(frozen=True)
class DemoConfig:
    devices: int = 50  # simulated devices, each with its own MQTT account
    canary_devices: int = 2  # of them, the registry's canary group (the rest: group fleet)
    rate_hz: float = 0.5  # predictions per second per device
    phase0_s: float = 70.0  # seconds of phase-0 traffic (the world the student was trained on)
    drift_s: float = 70.0  # seconds of phase-2 traffic after the switch (drift, a new label)
    # before the demo asks for a retrain; the traffic goes on while v2 is made and shipped
    after_s: float = 70.0  # seconds of phase-2 traffic once every device runs the new release
    window_s: float = 10.0  # the processor's tumbling window
    grace_s: float = 2.0  # a window closes this long after its end
    budget_per_window: int = 50  # label requests per window and model version
    corpus_train: int = 2000  # train examples per phase of the synthetic corpus (seed 0)
    corpus_eval: int = 300  # valid and test examples per phase
    student_steps: int = 300  # optimizer steps of the student (stage 1, hard labels)
    teacher: str = "e5-small"  # labeler: e5-small (head fine-tuned here, cached) | oracle |
    # keyword | a fine-tuned teacher folder
    teacher_steps: int = 80  # fine-tuning steps of the e5-small teacher
    distill_steps: int = 300  # fine-tuning steps of the distiller's cycle (ops Redistill cap)
    distill_lr: float = 3e-4  # its learning rate, and replay rows per teacher-labeled row:
    replay_ratio: float = 5.0  # a few hundred new labels must not make the student forget
    replay_tolerance: float = 0.02  # the gate's allowed drop of replay-set accuracy
    canary_bake_s: float = 20.0  # the canary stage holds this long after all its devices confirmed
    loop_timeout_s: float = 600.0  # redistill -> every device on the new release, at most
    malformed: int = 2  # malformed payloads one device sends, to show the dead-letter path
    var_dir: Path = Path("var/demo")  # cached corpus, student, teacher; logs; blobs

    def __post_init__(self) -> None:
        if self.devices < 1 or self.rate_hz <= 0:
            raise ConfigError(f"devices >= 1 and rate_hz > 0 needed, got {self}")
        if not 0 <= self.canary_devices < self.devices:
            raise ConfigError(
                f"canary_devices must be in [0, devices), got {self.canary_devices} of "
                f"{self.devices}"
            )
        if min(self.phase0_s, self.drift_s, self.after_s) < 2 * self.window_s:
            raise ConfigError("each phase must last at least two processor windows")
        if self.teacher not in TEACHERS and not Path(self.teacher).is_dir():
            raise ConfigError(
                f"teacher must be one of {TEACHERS} or a fine-tuned teacher folder, "
                f"got {self.teacher!r}"
            )

    @property
    def traffic_s(self) -> float:
        """Planned traffic, without the time the loop takes to retrain and ship."""
        return self.phase0_s + self.drift_s + self.after_s


FULL = DemoConfig()
# For the test and a first look: fewer devices, short phases, the corpus oracle as teacher
# (the keyword double labels most messages by a hash of the text: no basis for a retrain).
QUICK = replace(
    FULL,
    devices=12,
    rate_hz=4.0,
    phase0_s=24.0,
    drift_s=24.0,
    after_s=18.0,
    window_s=6.0,
    grace_s=1.0,
    budget_per_window=16,
    corpus_train=1200,
    corpus_eval=400,
    student_steps=100,
    teacher="oracle",
    distill_steps=120,
    # 120 steps on ~100 labels move replay accuracy by 1-2 points run to run (the labels
    # depend on which messages the devices were unsure of); the gate still has to pass
    replay_tolerance=0.05,
    canary_bake_s=3.0,
    loop_timeout_s=240.0,
)
