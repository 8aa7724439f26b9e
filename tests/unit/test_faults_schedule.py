"""Seeded fault schedules: a fault waits its turn, fires its count, and a bad schedule file is named."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from capturerig_sim._faults import FAULTS_ENV, FaultInjector, ScheduledFault, load_schedule
from capturerig_sim.chaos import fault_schedule


def test_a_scheduled_fault_lets_its_opportunities_pass_then_fires_its_count() -> None:
    faults = FaultInjector([ScheduledFault("cam03", "busy", after=2, count=2)])
    assert faults.scheduled() == {("cam03", "busy"): 2}
    fired = [faults.take("cam03", "busy") for _ in range(6)]
    assert fired == [False, False, True, True, False, False]
    assert faults.take("cam04", "busy") is False  # other devices never see it
    assert faults.scheduled() == {}
    assert faults.pending() == {}


def test_immediate_and_scheduled_faults_add_up() -> None:
    faults = FaultInjector()
    faults.inject("cam00", "slow_usb")
    faults.schedule("cam00", "slow_usb", after=1, count=1)
    assert [faults.take("cam00", "slow_usb") for _ in range(4)] == [True, True, False, False]


@pytest.mark.parametrize(("kind", "after", "count", "message"), [
    ("melt", 0, 1, "unknown fault kind 'melt'"), ("busy", 0, 0, "count"), ("busy", -1, 1, "negative")])
def test_bad_schedules_are_refused(kind: str, after: int, count: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultInjector().schedule("cam00", kind, after, count)


def test_a_child_process_reads_its_schedule_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"faults": [{"device": "trig0", "kind": "trigger_reset", "after": 1}]}))
    monkeypatch.setenv(FAULTS_ENV, str(path))
    faults = FaultInjector.from_env()
    assert [faults.take("trig0", "trigger_reset") for _ in range(3)] == [False, True, False]
    monkeypatch.delenv(FAULTS_ENV)
    assert FaultInjector.from_env().scheduled() == {}


@pytest.mark.parametrize(("text", "message"), [
    ("{", r"faults.json:1: the fault schedule is not JSON"),
    ('{"faults": {}}', "a list 'faults'"),
    ('{"faults": [{"kind": "busy"}]}', r"faults\[0\]: 'device'"),
    ('{"faults": [{"device": "cam00", "kind": "melt"}]}', r"faults\[0\]: unknown fault kind 'melt'"),
    ('{"faults": [{"device": "cam00", "kind": "busy", "count": 0}]}', r"faults\[0\]: needs count >= 1"),
])
def test_a_bad_schedule_file_names_the_file_and_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "faults.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_schedule(path)


def test_the_same_seed_gives_the_same_schedule_and_every_entry_is_valid() -> None:
    cameras = [f"cam{i:02d}" for i in range(8)]
    first = [fault_schedule(random.Random(f"7:{i}"), cameras, ["dmx0"], "trig0", "tt0", 4) for i in range(40)]
    again = [fault_schedule(random.Random(f"7:{i}"), cameras, ["dmx0"], "trig0", "tt0", 4) for i in range(40)]
    assert first == again
    kinds = {fault.kind for schedule in first for fault in schedule}
    assert {"busy", "light_silent", "trigger_reset", "truncated_download"} <= kinds
    for schedule in first:
        FaultInjector(schedule)  # every generated entry is one an injector accepts
