"""The storage reserve: a session stops cleanly before the disk fills, keeps every file, says what remains."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import capturerig
from capturerig.cli import app
from capturerig.engine import (
    DiskReserve,
    DiskReserveReached,
    Event,
    RunState,
    Session,
    SessionMessage,
    TakeStarted,
    TakeVerified,
)
from capturerig.packaging import sha256_file
from capturerig.plan import expand_plan
from capturerig_sim.chaos import host_disk_usage
from tests.conftest import with_test_card_images

pytestmark = pytest.mark.usefixtures("fast_sim")

TAKES = 4
CAMERAS = 8
MB = 1_000_000


def _with_reserve(studio_files: Path, reserve_bytes: int) -> Path:
    rig = studio_files / "rig.yaml"
    text = rig.read_text()
    assert "  min_free_bytes: 100000000\n" in text
    rig.write_text(text.replace("  min_free_bytes: 100000000\n",
                                f"  min_free_bytes: 100000000\n  reserve_bytes: {reserve_bytes}\n", 1))
    return rig


def _small_plan(studio_files: Path) -> None:
    """One station, the low ring only: 4 takes of 8 cameras keep the test quick."""
    plan = studio_files / "plan.yaml"
    text = plan.read_text()
    for old, new in (("  - {id: s01, angle_deg: 90}\n", ""), ("min_cameras: 16", "min_cameras: 8"),
                     ("camera_groups: [ring-low, ring-high]", "camera_groups: [ring-low]")):
        assert old in text
        text = text.replace(old, new, 1)
    plan.write_text(text)


def _session(studio_files: Path, out: Path, reserve_bytes: int) -> Session:
    _small_plan(studio_files)
    rig = capturerig.load_rig(with_test_card_images(_with_reserve(studio_files, reserve_bytes)))
    return Session.create(rig, capturerig.load_plan(studio_files / "plan.yaml", rig), subject="S-test", out=out)


def _disk_filled_after_preflight(out: Path, budget_bytes: int) -> Callable[[Any], Any]:
    """The real disk for preflight's look, then a simulated disk that another program has filled."""
    filled = host_disk_usage(out, budget_bytes)
    looks: list[Path] = []

    def disk_usage(path: Any) -> Any:
        inside = Path(path).resolve() == out.resolve() or out.resolve() in Path(path).resolve().parents
        if inside:
            looks.append(Path(path))
        return filled(path) if inside and len(looks) > 1 else host_disk_usage(out, 10**12)(path)

    return disk_usage


def test_a_reserve_above_the_free_space_is_refused_at_preflight(studio_files: Path, tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    session = _session(studio_files, tmp_path / "session", reserve_bytes=free + 10**12)
    result = session.run()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert "preflight failed" in result.error
    assert "reserve (storage.reserve_bytes)" in result.error
    assert not session.folder.journal.files()
    session.close()


def test_the_disk_filled_after_preflight_stops_before_the_first_take_and_says_how_much_is_free(
        studio_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reserve = 150 * MB
    session = _session(studio_files, tmp_path / "session", reserve_bytes=reserve)
    monkeypatch.setattr(shutil, "disk_usage", _disk_filled_after_preflight(tmp_path / "session", reserve))
    events: list[Event] = []
    session.subscribe(events.append)
    result = session.run()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert result.error.startswith(f"storage reserve reached at {tmp_path / 'session'}: ")
    assert re.search(r": \d+\.\d+ [GM]B free, the reserve is \d+\.\d+ [GM]B", result.error), result.error
    assert f"stopped before take p00/s00/l00/b0 with {TAKES} take(s) remaining" in result.error
    assert "capturerig resume" in result.error
    assert not any(isinstance(e, TakeStarted) for e in events)
    assert [e.text for e in events if isinstance(e, SessionMessage) and e.level == "error"] == [result.error]
    stop = session.folder.journal.meta("disk_reserve")
    assert stop["reserve_bytes"] == reserve
    assert len(stop["remaining"]) == TAKES
    session.close()


def test_the_disk_filling_mid_session_stops_at_a_take_boundary_keeps_every_file_and_resume_finishes(
        studio_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "session"
    reserve = 150 * MB
    session = _session(studio_files, out, reserve_bytes=reserve)
    per_take = DiskReserve(session.folder.rig.config, session.folder.rig.path.parent, out).take_bytes(
        expand_plan(session.folder.rig.config, session.folder.plan.config)[0])
    monkeypatch.setattr(shutil, "disk_usage", host_disk_usage(out, 10**12))  # a simulated host disk

    def another_program_fills_the_disk(event: Event) -> None:
        # Half a take left above the reserve as the first take starts: it is shot and stored (its files are
        # counted while they are still on their way), and the session stops before the second.
        if isinstance(event, TakeStarted) and event.ordinal == 0:
            held = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            monkeypatch.setattr(shutil, "disk_usage", host_disk_usage(out, reserve + held + per_take // 2))

    events: list[Event] = []
    session.subscribe(events.append)
    session.subscribe(another_program_fills_the_disk)
    result = session.run()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert "storage reserve reached" in result.error
    verified = [e.take_id for e in events if isinstance(e, TakeVerified)]
    assert verified == ["p00/s00/l00/b0"]
    assert f"with {TAKES - len(verified)} take(s) remaining" in result.error
    started = [e.take_id for e in events if isinstance(e, TakeStarted)]
    assert started == verified  # stopped between takes: no take was cut off half-way
    journal = session.folder.journal
    kept = {f.path: f.sha256 for f in journal.files()}
    assert len(kept) == CAMERAS * len(verified)
    for relative, sha256 in kept.items():
        assert sha256_file(out / relative) == sha256
    session.close()

    # The technician frees space: resume shoots only what remains.
    monkeypatch.setattr(shutil, "disk_usage", host_disk_usage(out, 10**12))
    resumed = Session.open(out)
    again: list[Event] = []
    resumed.subscribe(again.append)
    assert resumed.run().state == RunState.DONE
    assert not {e.take_id for e in again if isinstance(e, TakeStarted)} & set(verified)
    assert {f.path: f.sha256 for f in resumed.folder.journal.files()}.items() >= kept.items()
    resumed.close()


def test_the_technician_sees_the_stop_on_the_command_line(
        studio_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = _with_reserve(studio_files, 150 * MB)
    _small_plan(studio_files)
    monkeypatch.setattr(shutil, "disk_usage", _disk_filled_after_preflight(tmp_path / "s", 150 * MB))
    result = CliRunner().invoke(app, ["run", "--rig", str(rig), "--plan", str(studio_files / "plan.yaml"),
                                      "--subject", "S-test", "--out", str(tmp_path / "s"), "--yes"],
                                terminal_width=400)
    assert result.exit_code == 1
    assert "storage reserve reached" in result.output
    assert f"{TAKES} take(s) remaining" in result.output
    assert f"resume with: capturerig resume {tmp_path / 's'}" in result.output


def test_a_reserve_error_names_every_figure() -> None:
    error = DiskReserveReached(Path("/data/s1"), free_bytes=1_500_000_000, reserve_bytes=2_000_000_000,
                               take_bytes=3_000_000, remaining=["p00/s01/l00/b0", "p00/s01/l01/b0"])
    assert str(error).startswith("storage reserve reached at /data/s1: 1500.0 MB free, the reserve is 2000.0 MB "
                                 "and the next take needs about 3.0 MB; stopped before take p00/s01/l00/b0 with 2 "
                                 "take(s) remaining (every file so far is kept)")
    assert error.remaining == ("p00/s01/l00/b0", "p00/s01/l01/b0")
