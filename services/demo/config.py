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
    drift_phases: tuple[int, ...] = (2,)  # the corpus phases that follow, one drift each
    drift_s: float = 70.0  # seconds of phase-2 traffic after the switch (drift, a new label)
    # before the demo asks for a retrain; the traffic goes on while v2 is made and shipped
    after_s: float = 70.0  # seconds of phase-2 traffic once every device runs the new release
    # --auto: no command; the distiller's drift trigger starts each round (PSI above 0.2 for
    # drift_hold_s, asked every drift_poll_s), and each drift phase lasts until its release
    # runs on every device, plus after_s
    auto: bool = False
    drift_hold_s: float = 180.0  # the FleetDriftHigh alert's `for: 3m`
    drift_poll_s: float = 10.0
    drift_min_new_samples: int = 50  # labels a drift cycle needs
    window_s: float = 10.0  # the processor's tumbling window
    grace_s: float = 2.0  # a window closes this long after its end
    budget_per_window: int = 50  # label requests per window and model version
    corpus_train: int = 2000  # train examples per phase of the synthetic corpus (seed 0)
    corpus_eval: int = 300  # valid and test examples per phase
    student_steps: int = 300  # optimizer steps of the student (stage 1, hard labels)
    teacher: str = "e5-small"  # labeler: e5-small (head fine-tuned here, cached) | oracle |
    # keyword | a fine-tuned teacher folder
    teacher_epochs: int = 3  # fine-tuning epochs of the e5-small teacher, at most ...
    teacher_per_phase: int = 1000  # ... on this many labeled messages of every phase
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
        if (
            not self.drift_phases
            or not all(0 < p <= 3 for p in self.drift_phases)
            or (len(self.drift_phases) > 1 and not self.auto)
        ):
            raise ConfigError(
                f"drift_phases: one phase of 1-3, or (with auto) several, got {self.drift_phases}"
            )
        if self.teacher not in TEACHERS and not Path(self.teacher).is_dir():
            raise ConfigError(
                f"teacher must be one of {TEACHERS} or a fine-tuned teacher folder, "
                f"got {self.teacher!r}"
            )

    @property
    def phases(self) -> tuple[int, ...]:
        """Every traffic phase, in order."""
        return (0, *self.drift_phases)

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
# --auto: two drifts, each answered by the distiller's drift trigger: phase 2 (new carriers
# and phrasing, the new label), then phase 3 (the mid-year sale: new carriers, places and
# order numbers, a returns-led label mix). Phase 1 then 2 drifts too little for the second
# round: phase-2 traffic on a release made for phase 1 keeps its PSI around 0.2 (0.15-0.24
# per window in a --quick run), so the trigger's hold above 0.2 never completes.
AUTO = replace(FULL, auto=True, drift_phases=(2, 3))
# --quick --auto (make test): the trigger's hold is 4 windows, not the alert's 3 minutes, so
# FleetDriftHigh is only pending when the trigger fires
QUICK_AUTO = replace(
    QUICK,
    auto=True,
    drift_phases=(2, 3),
    drift_hold_s=24.0,
    drift_poll_s=2.0,
    budget_per_window=20,
    drift_min_new_samples=60,
)
