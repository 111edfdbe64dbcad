import pytest

from edge_agent.errors import EdgeError
from edge_agent.simulator import SimSettings, parse_phases


def test_single_phase_and_schedules_parse():
    assert parse_phases("2") == (2, ())
    assert parse_phases("0:60, 1:30.5 ,2") == (2, ((0, 60.0), (1, 30.5)))


@pytest.mark.parametrize("spec", ["", "x", "0,2", "0:abc,1"])
def test_bad_schedules_name_the_format(spec):
    with pytest.raises(EdgeError, match="phase"):
        parse_phases(spec)


def test_phase_at_walks_the_schedule_then_stays_on_the_last_phase():
    s = SimSettings(devices=1, rate=1, phase=2, count=10, schedule=((0, 10.0), (1, 5.0)))
    assert [s.phase_at(t) for t in (0, 9.9, 10, 14.9, 15, 1000)] == [0, 0, 1, 1, 2, 2]
    assert s.phases == (0, 1, 2)


def test_schedule_phases_are_validated():
    with pytest.raises(EdgeError, match="phase must be"):
        SimSettings(devices=1, rate=1, phase=0, count=1, schedule=((5, 1.0),))
    with pytest.raises(EdgeError, match="duration"):
        SimSettings(devices=1, rate=1, phase=0, count=1, schedule=((1, 0.0),))


class RecordingAgent:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def handle_text(self, text: str) -> None:
        self.texts.append(text)


def test_fleet_run_switches_text_pools_at_the_scheduled_time(monkeypatch):
    """Drive Fleet.run with a fake clock: 1 msg/s, phase 0 for 3 s, then phase 2."""
    import edge_agent.simulator as sim

    clock = {"t": 0.0}
    monkeypatch.setattr(sim.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(sim.time, "sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    fleet = sim.Fleet.__new__(sim.Fleet)
    agent = RecordingAgent()
    fleet.agents = [agent]  # type: ignore[list-item]
    monkeypatch.setattr(sim.Fleet, "counts", lambda self, sent, elapsed: sim.SimCounts(sent=sent))
    settings = SimSettings(devices=1, rate=1.0, phase=2, count=6, schedule=((0, 3.0),))
    fleet.run(settings, {0: ["zero"], 2: ["two"]}, lambda c: None)
    assert agent.texts == ["zero", "zero", "zero", "two", "two", "two"]
